"""step2-speakers: who speaks each transcript segment of one video, named from the bible's voice references.

Input (spec): ``video``, ``video_id``, ``models.speakers`` (speaker encoder, reelset.voice: GE2E
for the try-out profile and tests, a WavLM x-vector for real runs), ``config.speakers``
(:class:`reelset.schemas.speakers.SpeakersConfig`), ``inputs``: ``step2-transcript-base``
(segments, seconds) and one ``voice/<key>`` per voice reference of the bible
(tools/step2_voice_reference.py: a character's embedding from a span of any video of the
dataset). It does not read the bible itself: editing a description or a reference shot re-runs
nothing here; editing a voice reference re-embeds that reference and re-runs this step.

The rules (clustering per video, a threshold and a margin against the references, ``unknown``
instead of a forced name, ``mixed`` for two voices in a segment) are in :mod:`reelset.speakers`.
Segments flagged by ASR's hallucination guards are ``not_speech``; segments shorter than
``[speakers] min_segment_s`` are ``too_short``. A video without audio gives no segments.
Device: CUDA when torch sees one; CPU only with ``[device] allow_cpu = true``.

Output (``$out``): ``speakers.json`` (:class:`reelset.schemas.speakers.SpeakersArtifact`:
voices with names and similarities, every segment's speaker, status and confidence),
``meta.json`` (counts per status, seconds of audio embedded).

Run by hand: ``python tools/step2_speakers.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reelset import ReelsetError, media, speakers, voice
from reelset.declare import FanOut, Model, Step
from reelset.schemas.base import StepSpec
from reelset.schemas.device import DeviceConfig
from reelset.schemas.speakers import SpeakersArtifact, SpeakersConfig, SpeakerSegment, Voice, VoiceReferenceArtifact
from reelset.schemas.transcript import TranscriptArtifact
from reelset.step import Context, StepResult, log, main, read_artifact, write_json

# fan_out: one derivation per voice reference of the bible (characters[].voice_references: video +
# start/end seconds) embeds that span (step2_voice_reference.py); every shard reads them all
# (inputs voice/<character>/<video>-<start>-<end>). The bible is no input of the shard: only a
# voice-reference edit re-runs it.
STEP = Step(name="step2-speakers", device="cuda", level="video", script="step2_speakers.py",
            inputs={"step2-transcript-base": TranscriptArtifact}, config={"speakers": SpeakersConfig, "device": DeviceConfig},
            models={"speakers": Model(key="speakers.model", default="wavlm-base-plus-sv")},
            video_keys=["audio"],  # the voice references too
            fan_out=FanOut(source="step2-bible", artifact="bible.json", select="voices", script="step2_voice_reference.py",
                           part="voice", attr="voices", input="voice/"))


def load_references(spec: StepSpec) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """(character → unit mean reference embedding float32[dim], character → where its references are)."""
    vecs: dict[str, list[np.ndarray]] = {}
    where: dict[str, list[str]] = {}
    for key in sorted(k for k in spec.inputs if k.startswith("voice/")):
        ref = read_artifact(Path(spec.inputs[key]) / VoiceReferenceArtifact.FILE, VoiceReferenceArtifact)
        vecs.setdefault(ref.character, []).append(np.asarray(ref.embedding, np.float32))
        where.setdefault(ref.character, []).append(f"{ref.where} ({ref.video_id} {ref.start}-{ref.end} s)")
    return {c: speakers.unit(np.mean(v, 0)) for c, v in vecs.items()}, where


def attribute(pcm: np.ndarray, transcript: TranscriptArtifact, encoder: voice.Encoder, refs: dict[str, np.ndarray],
              cfg: SpeakersConfig) -> tuple[list[Voice], list[SpeakerSegment]]:
    """Voices and per-segment speakers of one video (rules: reelset.speakers); ``pcm`` float32[n] 16 kHz."""
    sr = voice.SAMPLE_RATE
    embedded: list[tuple[int, np.ndarray, np.ndarray]] = []  # (segment index, utterance, windows)
    status: dict[int, str] = {}
    for i, seg in enumerate(transcript.segments):
        if seg.flags:
            status[i] = "not_speech"
        elif seg.end - seg.start < cfg.min_segment_s:
            status[i] = "too_short"
        else:
            wav = pcm[int(seg.start * sr):int(seg.end * sr)]
            if wav.size == 0 or not np.any(wav):
                status[i] = "too_short"
                continue
            vec, windows = encoder.embed(wav)
            embedded.append((i, vec, windows))
    hints = [speakers.name_voice(e[1], refs, cfg.min_similarity, cfg.min_margin)[0] for e in embedded]
    labels = speakers.cluster(np.stack([e[1] for e in embedded]), cfg.cluster_similarity, hints) if embedded else []
    voices: list[Voice] = []
    voice_of: dict[int, Voice] = {}
    for label in sorted(set(labels)):
        rows = [k for k, lab in enumerate(labels) if lab == label]
        mean = speakers.unit(np.mean([embedded[k][1] for k in rows], 0))
        name, closest, sim, margin = speakers.name_voice(mean, refs, cfg.min_similarity, cfg.min_margin)
        ids = [transcript.segments[embedded[k][0]].id for k in rows]
        secs = sum(transcript.segments[embedded[k][0]].end - transcript.segments[embedded[k][0]].start for k in rows)
        v = Voice(id=f"v{label + 1}", name=name, closest=closest, similarity=None if sim is None else round(sim, 4),
                  margin=None if margin is None else round(margin, 4), segments=ids, seconds=round(secs, 3),
                  embedding=[round(float(x), 5) for x in mean])
        voices.append(v)
        for k in rows:
            voice_of[embedded[k][0]] = v
    out: list[SpeakerSegment] = []
    by_index = {e[0]: e for e in embedded}
    voice_named = {v.name: v.id for v in voices if v.name}
    # windows and runs are named only after characters this video's voices were named after: a
    # 1.6 s window is too short to name a character the clusters never heard (reelset.speakers, rule 4)
    heard_refs = {c: r for c, r in refs.items() if c in voice_named}
    for i, seg in enumerate(transcript.segments):
        base = dict(id=seg.id, start=seg.start, end=seg.end, text=seg.text.strip())
        if i in status:
            out.append(SpeakerSegment(**base, voice=None, speaker=None, confidence=0.0, status=status[i]))
            continue
        _, vec, windows = by_index[i]
        v = voice_of[i]
        names = speakers.window_names(windows, heard_refs, cfg.min_similarity, cfg.min_margin)
        heard = sorted({n for n in names if n})
        if speakers.mixed(names, cfg.mixed_fraction):
            runs = split_runs(pcm, seg, names, encoder, heard_refs, cfg, voice_named)
            out += runs or [SpeakerSegment(**base, voice=v.id, speaker=None, confidence=0.0, status="mixed", heard=heard)]
            continue
        target = v.name or v.closest
        conf = round(float(vec @ refs[target]), 4) if target else 0.0
        named = v.name is not None and conf >= cfg.min_segment_similarity
        out.append(SpeakerSegment(**base, voice=v.id, speaker=v.name if named else None, confidence=conf,
                                  status="named" if named else "unknown", heard=heard))
    return voices, out


def split_runs(pcm: np.ndarray, seg, names: list[str | None], encoder: voice.Encoder, refs: dict[str, np.ndarray],
               cfg: SpeakersConfig, voice_named: dict[str, str]) -> list[SpeakerSegment]:
    """A segment of two voices cut into runs of one voice by its words (reelset.speakers.word_runs),
    each run of at least min_segment_s embedded and named on its own; [] when it does not cut
    (no words, or one run)."""
    sr, hop = voice.SAMPLE_RATE, voice.GE2E_HOP
    words = [w for w in seg.words if w.end > w.start]
    if len(words) < 2:
        return []
    spans = [(seg.start + s.start * hop / sr, seg.start + s.stop * hop / sr)
             for s in voice.partial_slices(int((seg.end - seg.start) * sr))]
    runs = speakers.word_runs([(w.start + w.end) / 2 for w in words], spans, names, cfg.min_run_s,
                              [(w.start, w.end) for w in words])
    if len(runs) < 2:
        return []
    out = []
    for part, (a, b, heard) in enumerate(runs):
        start, end = words[a].start, words[b - 1].end
        text = " ".join(w.word.strip() for w in words[a:b])
        wav = pcm[int(start * sr):int(end * sr)]
        if end - start < cfg.min_segment_s or not np.any(wav):
            out.append(SpeakerSegment(id=seg.id, part=part, start=start, end=end, text=text, voice=None, speaker=None,
                                      confidence=0.0, status="too_short", heard=[heard] if heard else []))
            continue
        vec, _ = encoder.embed(wav)
        name, closest, sim, _ = speakers.name_voice(vec, refs, cfg.min_similarity, cfg.min_margin)
        named = name is not None and sim >= cfg.min_segment_similarity
        out.append(SpeakerSegment(id=seg.id, part=part, start=start, end=end, text=text,
                                  voice=voice_named.get(name) if named else None, speaker=name if named else None,
                                  confidence=round(sim, 4) if sim is not None else 0.0,
                                  status="named" if named else "unknown", heard=[heard] if heard else []))
    return out


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs, policy = ctx.spec, ctx.out, ctx.timer, ctx.inputs, ctx.policy
    if not spec.video or not spec.video_id:
        raise ReelsetError(f"{STEP}: spec has no video (video-level step)")
    model = spec.models.get("speakers")
    if model is None:
        raise ReelsetError(f"{STEP}: spec has no models.speakers")
    cfg = ctx.config["speakers"]
    transcript = inputs["step2-transcript-base"]
    refs, where = load_references(spec)
    if not refs:
        log("no voice references in the bible (characters[].voice_references): every voice stays unknown")
    with timer.phase("load_model"):
        encoder = voice.load_encoder(Path(model.path), policy)
    if transcript.has_audio and transcript.segments:
        with timer.phase("decode_audio"):
            pcm = media.decode_audio_16k(Path(spec.video), audio=spec.video_options.get("audio"), where=spec.video_entry())
        with timer.phase("embed_and_cluster"):
            voices, segments = attribute(pcm, transcript, encoder, refs, cfg)
    else:
        voices, segments = [], []
    names = sorted(refs)
    ref_sim = {a: {b: round(float(refs[a] @ refs[b]), 4) for b in names if b != a} for a in names}
    for a in names:
        for b, s in ref_sim[a].items():
            if a < b and s >= cfg.min_similarity:
                log(f"voice references of {a} and {b} sound alike (cosine {s:.3f} >= min_similarity {cfg.min_similarity}); "
                    f"their voices may stay unknown")
    artifact = SpeakersArtifact(video_id=spec.video_id, model=model, encoder=encoder.kind, dim=encoder.dim,
                                device=encoder.device, config=cfg, references=where, reference_similarity=ref_sim,
                                voices=voices, segments=segments)
    write_json(out / "speakers.json", artifact)
    counts = {f"segments_{s}": sum(x.status == s for x in segments)
              for s in ("named", "unknown", "mixed", "too_short", "not_speech")}
    counts.update(segments=len(segments), voices=len(voices), named_voices=sum(v.name is not None for v in voices),
                  embedded_ms=round(1000 * sum(v.seconds for v in voices)))
    log(f"{len(segments)} segments, {len(voices)} voices: " + ", ".join(
        f"{v.id}={v.name or 'unknown'} ({v.closest} {v.similarity})" for v in voices))
    return StepResult(device=encoder.device, models=[model], counts=counts, versions={"ffmpeg": media.program_version("ffmpeg")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
