"""step2-transcript-disambiguate: correct names and terms in one video's transcript with the bible.

Input (spec): ``video`` (source audio), ``inputs``: ``step2-transcript-base`` (base
transcript.json), ``step1-scenes`` (scenes.json + clips, for the frames of the multimodal
pass), ``step2-bible`` (bible.json), ``step2-shot-reference`` (references.json + PNGs);
``models.asr`` (faster-whisper, the same model as the base transcript); ``config.asr`` (language, beam size, VAD) and
``config.disambiguate`` (:class:`reelset.schemas.disambiguate.DisambiguateConfig`).

Passes, each recorded in the ``audit`` list:

1. **conditioned** — faster-whisper re-transcribes the audio (batched, like the base
   transcript, :func:`reelset.asr.decode.transcribe`) with the bible's canonical
   names, places and glossary terms as ``hotwords`` and as ``initial_prompt``; segments of
   the re-decoding flagged by the hallucination guards lend no word; base and
   conditioned words are aligned (difflib + word timestamps) and only differences that
   introduce a bible term are applied (:func:`reelset.disambiguate.conditioned_pass`).
   Aliases are not used to condition decoding: measured on the demo with tiny.en, they
   make the decoder insert surnames ("Cyril Figgis" for "Cyril has the keys").
2. **lexical** — listed mis-hearings, and low-probability words / n-grams that sound like
   a bible term (jellyfish phonetic codes + rapidfuzz Jaro-Winkler).
3. **model** (multimodal) — the model ``models.vlm`` (``[disambiguate] vlm``, a key of
   nix/models.toml) sees the reference shots (one picture each, labelled in the prompt) and the
   segment's frames (``model_frames`` evenly spaced over its span, one video), with a prompt
   holding the bible and the current text. An audio-visual model (a Qwen2.5-Omni or Qwen3-Omni thinker,
   :attr:`reelset.vlm.Vlm.hears_audio`) also **hears the segment**: its audio, cut from the
   source at the segment's start and end (16 kHz mono, at most 30 s), follows the frames;
   a visual model (Qwen2.5-VL, Qwen3-VL) gets the frames only, as before. meta.json records
   which ran: ``versions.vlm_model_type`` (config.json's model_type), ``versions.vlm_inputs``
   ("frames+audio" or "frames") and ``counts.model_audio_segments`` (segments sent with audio). It answers :class:`reelset.schemas.disambiguate.ModelSegmentAnswer`
   (speaker, confidence, text). With ``model_constrained`` (default) decoding is constrained
   to that schema (xgrammar, :func:`reelset.vlm.json_grammar`; speaker one of the bible's
   names or 'unknown', text at most ``model_max_text_chars``), so every answer that ends within
   ``model_max_new_tokens`` is valid; otherwise, or when xgrammar cannot handle the model, the
   answer is parsed tolerantly (:func:`reelset.answers.parse_json`). An unusable answer keeps the
   earlier passes' text and is recorded as a ``fallback`` audit entry with the reason. Usable
   answers go through :func:`reelset.disambiguate.model_pass_segment` (speaker must be a bible
   character or 'unknown'; text edits only where they spell a bible term that sounds like the
   heard words). Segments are sent in batches of ``model_batch_size``.

Output (``$out``): ``corrected_transcript.json``
(:class:`reelset.schemas.disambiguate.DisambiguatedTranscript`: original + corrected text and words per
segment, speaker, audit, pass summaries), ``corrected.srt``, ``meta.json``
(diff view + audit). Errors (exit status 2): missing inputs or model directory.

Run by hand: ``python tools/step2_transcript_disambiguate.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from datetime import timedelta
from pathlib import Path

import faster_whisper
import rapidfuzz
import srt

from reelset import ReelsetError, answers, frames, media, vlm
from reelset.asr import decode, whisper
from reelset.asr.segments import sentence_segments
from reelset.asr.windows import seconds
from reelset.declare import Model, Step
from reelset.device import DevicePolicy
from reelset.disambiguate import MODEL_SYSTEM, conditioned_pass, lexical_pass, model_pass_segment, model_prompt
from reelset.schemas.base import StepSpec
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.device import DeviceConfig
from reelset.schemas.disambiguate import (
    AuditEntry,
    CorrectedSegment,
    CorrectedWord,
    DisambiguateConfig,
    DisambiguatedTranscript,
    ModelSegmentAnswer,
    PassSummary,
    SpeakerAttribution,
    segment_answer_schema,
)
from reelset.schemas.references import ShotReferenceArtifact
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.transcript import AsrConfig, TranscriptArtifact, Word
from reelset.step import Context, StepResult, log, main, write_json

# step1-scenes is only validated (a broken upstream fails before any work); the frames come from the video itself
STEP = Step(name="step2-transcript-disambiguate", device="cuda", level="video", script="step2_transcript_disambiguate.py",
            inputs={"step1-scenes": ScenesArtifact, "step2-transcript-base": TranscriptArtifact,
                    "step2-bible": BibleArtifact, "step2-shot-reference": ShotReferenceArtifact},
            config={"asr": AsrConfig, "disambiguate": DisambiguateConfig, "device": DeviceConfig},
            models={"asr": Model(key="asr.model", default="faster-whisper-large-v3"),
                    "vlm": Model(key="disambiguate.vlm", default="qwen2.5-vl-7b-instruct", when="disambiguate.model")},
            video_keys=["audio"], cpu_kernels=True)

def conditioning(bible_art: BibleArtifact) -> tuple[str, str]:
    """(hotwords, initial_prompt) from the bible: canonical character names, places and
    glossary terms, comma-separated (the prompt ends with a period)."""
    b = bible_art.bible
    words = [c.name for c in b.characters] + [p.name for p in b.places] + [g.term for g in b.glossary]
    joined = ", ".join(words)
    return joined, joined + "."


def redecode(src: Path, model_dir: Path, cfg: AsrConfig, hotwords: str, prompt: str, policy: DevicePolicy,
             audio: int | str | None = None, where: str = "") -> tuple[list[dict], list[str], str, int]:
    """faster-whisper on ``src`` conditioned on the bible (batched, like the base transcript):
    (flat words of the unflagged segments, segment texts, device, flagged segments). The
    hallucination guards run on the re-decoding too, so a loop or phantom phrase of the
    conditioned run never lends a word to the corrected transcript. ``audio``: the video's audio track
    (dataset.toml, ``where`` naming it; :func:`reelset.media.choose_audio`)."""
    log("conditioned re-decoding")
    model, device, _compute_type = whisper.load_whisper(model_dir, cfg, policy)
    pcm = media.decode_audio_16k(src, pcm16=True, audio=audio, where=where)
    windows, timestamps, _, _ = decode.transcribe_blocks(model, pcm, cfg, whisper.default_batch_size(cfg, device), "conditioned ASR",
                                                      hotwords=hotwords, initial_prompt=prompt)
    segments = sentence_segments(windows, seconds(timestamps), cfg)
    words = [dict(word=w.word, start=w.start, end=w.end, probability=w.probability, source="conditioned")
             for s in segments if not s.flags for w in s.words]
    return words, [s.text for s in segments], device, sum(bool(s.flags) for s in segments)


def summary(name: str, entries: list[AuditEntry], ran: bool, detail: str) -> PassSummary:
    return PassSummary(name=name, ran=ran, applied=sum(a.action == "applied" for a in entries),
                       alternatives=sum(a.action == "alternative" for a in entries),
                       fallbacks=sum(a.action == "fallback" for a in entries), detail=detail)


def segment_frames(src: Path, segs: list[tuple[float, float]], n: int, work: Path, max_width: int = 448) -> list[list[Path]]:
    """For each (start, end) segment (seconds), ``n`` PNG frames of ``src`` at the midpoints of
    ``n`` equal parts of the span (the frame shown at each time, square pixels, at most
    ``max_width`` wide), written under ``work``. Returns the paths per segment."""
    info, times = media.probe_video(src)
    width = min(max_width, info.display_width) // 2 * 2
    height = max(2, round(info.display_height * width / info.display_width) // 2 * 2)  # displayed (turned) size
    result = []
    for k, (start, end) in enumerate(segs):
        paths = []
        for j in range(n):
            t = max(times[0], min(start + (j + 0.5) * (end - start) / n, times[-1]))
            idx = frames.frame_at(times, t)
            dst = work / f"seg{k:04d}-{j:02d}.png"
            frames.extract_frame(src, times[idx], times[idx + 1] if idx + 1 < len(times) else None, dst, width, height,
                                 info.orientation_filters)
            paths.append(dst)
        result.append(paths)
    return result


def model_pass(spec: StepSpec, cfg: DisambiguateConfig, base: TranscriptArtifact, segments: list[list[dict]],
               bible_art: BibleArtifact, refs: ShotReferenceArtifact, work: Path, device: DevicePolicy | str) -> tuple[list[SpeakerAttribution], list[AuditEntry], str, dict, dict]:
    """The multimodal pass over every segment (see the module docstring): (speakers,
    audit entries, summary detail, stats, what ran: model type and inputs for meta.json's
    versions). ``segments`` are edited in place. ``device``: the step's device policy, or "cpu" /
    "cuda" (:func:`reelset.vlm.load`)."""
    ref = spec.models["vlm"]
    model = vlm.load(Path(ref.path), device)
    ref_dir = Path(spec.inputs["step2-shot-reference"])
    ref_images = [ref_dir / f.image for f in refs.frames]
    ref_labels = [f"{f.subject} ({f.kind}" + (f", {f.note}" if f.note else "") + ")" for f in refs.frames]
    spans = [(s.start, s.end) for s in base.segments]
    seg_frames = segment_frames(Path(spec.video), spans, cfg.model_frames, work)
    # an audio-visual model hears each segment: the source's audio once (int16, half the memory), cut per segment
    pcm = (media.decode_audio_16k(Path(spec.video), pcm16=True, audio=spec.video_options.get("audio"), where=spec.video_entry())
           if model.hears_audio and base.has_audio else None)
    schema = segment_answer_schema([c.name for c in bible_art.bible.characters], cfg.model_max_text_chars)
    grammar, decoding = vlm.answer_grammar(model, ModelSegmentAnswer, cfg.model_constrained, schema)
    log(f"model pass: {vlm.kind(model)} model ({model.model_type}){', hears each segment' if pcm is not None else ''}; {decoding}")
    # a flagged segment (a likely hallucination, reelset.hallucination) is not dialogue: it is not
    # sent to the model as if someone had said it, and keeps no speaker (issue 26)
    speakers = [SpeakerAttribution(speaker="unknown", confidence=0.0, source="none") for _ in segments]
    todo = [si for si in range(len(segments)) if not base.segments[si].flags]
    if len(todo) < len(segments):
        log(f"model pass: {len(segments) - len(todo)} flagged segments not sent to the model (not dialogue)")
    audit: list[AuditEntry] = []
    gen_seconds, new_tokens, prompt_tokens, malformed, hit_limit, audio_segments = 0.0, 0, 0, 0, 0, 0
    for b0 in range(0, len(todo), cfg.model_batch_size):
        batch = todo[b0:b0 + cfg.model_batch_size]
        convs = []
        for si in batch:
            start, end = spans[si]
            text = " ".join(w["word"] for w in segments[si])
            fps = cfg.model_frames / max(end - start, 1e-3)
            audios = [] if pcm is None else [segment_audio(pcm, start, end)]
            audio_segments += bool(audios)
            convs.append(vlm.chat(model_prompt(bible_art.bible, ref_labels, text, start, end),
                                  images=ref_images, videos=[seg_frames[si]], system=MODEL_SYSTEM,
                                  max_pixels=cfg.model_max_pixels, fps=fps, audios=audios))
        gens = vlm.generate(model, convs, max_new_tokens=cfg.model_max_new_tokens, grammar=grammar)
        gen_seconds += gens[0].seconds if gens else 0.0
        for si, g in zip(batch, gens, strict=True):
            new_tokens += g.new_tokens
            prompt_tokens += g.prompt_tokens
            hit_limit += g.hit_limit
            parsed = answers.parse_json(g.text, ModelSegmentAnswer, hit_limit=g.hit_limit)
            if parsed.value is None:
                malformed += 1
                kept = " ".join(w["word"] for w in segments[si])
                why = parsed.reason + (f" ({cfg.model_max_new_tokens} tokens)" if g.hit_limit else "")
                audit.append(AuditEntry(segment=si, **{"pass": "model"}, action="fallback", before=kept, after=kept, start=spans[si][0], end=spans[si][1], confidence=0.0,
                                        reason=f"unusable model output, earlier text kept: {why}"))
                continue
            spk, entries = model_pass_segment(si, segments[si], parsed.value, bible_art.bible, bible_art.terms,
                                              cfg.model_min_confidence, cfg.lexical_min_similarity)
            speakers[si] = spk
            audit += entries
    n = max(1, len(todo))
    detail = (f"{ref.name} ({model.model_type}, {model.device}, {str(model.dtype).removeprefix('torch.')}); "
              f"{len(ref_images)} reference pictures, {cfg.model_frames} frames/segment"
              + (f" + the segment's audio ({audio_segments} segments heard)" if pcm is not None else
                 " (no audio in the source)" if model.hears_audio else "")
              + f"; {malformed}/{len(todo)} answers unusable"
              + (f"; {len(segments) - len(todo)} flagged segments not sent" if len(todo) < len(segments) else "")
              + f"; {decoding}")
    stats = {"model_segments": len(todo), "model_skipped_flagged": len(segments) - len(todo),
             "model_malformed": malformed, "model_hit_limit": hit_limit,
             # a count, not a yes/no: aggregates sum counts over videos (issue 27: "model_constrained: 2")
             "model_constrained_segments": len(todo) if grammar is not None else 0,
             "model_prompt_tokens": prompt_tokens, "model_new_tokens": new_tokens,
             "model_audio_segments": audio_segments}
    # what ran (meta.json versions): the model kind and whether it heard the segments
    kinds = {"vlm_model_type": model.model_type, "vlm_inputs": "frames+audio" if audio_segments else "frames"}
    log(f"{STEP}: model pass: load {model.load_seconds:.1f} s, generate {gen_seconds / n:.2f} s/segment")
    return speakers, audit, detail, stats, kinds


def segment_audio(pcm, start: float, end: float):
    """The samples of ``pcm`` (16 kHz mono int16, the whole source) from ``start`` to ``end``
    seconds as float32 in [-1, 1] (at least one sample)."""
    import numpy as np

    a = max(0, int(start * vlm.AUDIO_RATE))
    b = max(a + 1, min(len(pcm), int(round(end * vlm.AUDIO_RATE))))
    return pcm[a:b].astype(np.float32) / 32768.0


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs, policy = ctx.spec, ctx.out, ctx.timer, ctx.inputs, ctx.policy
    if not spec.video or not spec.video_id:
        raise ReelsetError(f"{STEP}: spec has no video (video-level step)")
    cfg = ctx.config["disambiguate"]
    asr_cfg = ctx.config["asr"]
    base, bible_art, refs = inputs["step2-transcript-base"], inputs["step2-bible"], inputs["step2-shot-reference"]
    segments = [[dict(word=w.word, start=w.start, end=w.end, probability=w.probability, source="base") for w in s.words]
                for s in base.segments]
    hotwords, prompt = conditioning(bible_art)
    audit: list[AuditEntry] = []
    passes: list[PassSummary] = []
    conditioned_text: list[str] = []
    models_used = []
    device = "cpu"

    if cfg.conditioned and base.has_audio and segments:
        model_ref = spec.models.get("asr")
        if model_ref is None:
            raise ReelsetError(f"{STEP}: spec has no models.asr (needed by the conditioned pass)")
        with timer.phase("conditioned"):
            cond_words, conditioned_text, device, cond_flagged = redecode(Path(spec.video), Path(model_ref.path), asr_cfg,
                                                                          hotwords, prompt, policy, spec.video_options.get("audio"),
                                                                          spec.video_entry())
            entries = conditioned_pass(segments, cond_words, bible_art.terms, keep_confident=cfg.keep_confident)
        models_used.append(model_ref)
        audit += entries
        passes.append(summary("conditioned", entries, True, f"{len(cond_words)} words re-decoded"
                              + (f" ({cond_flagged} flagged segments left out)" if cond_flagged else "")))
    else:
        passes.append(summary("conditioned", [], False, "disabled in [disambiguate]" if not cfg.conditioned else "no speech"))

    if cfg.lexical:
        with timer.phase("lexical"):
            entries = lexical_pass(segments, bible_art.terms, cfg.lexical_max_probability, cfg.lexical_min_similarity, cfg.lexical_ngram)
        audit += entries
        passes.append(summary("lexical", entries, True,
                              f"p < {cfg.lexical_max_probability}, Jaro-Winkler >= {cfg.lexical_min_similarity}, n-grams <= {cfg.lexical_ngram}"))
    else:
        passes.append(summary("lexical", [], False, "disabled in [disambiguate]"))

    speakers = [SpeakerAttribution(speaker="unknown", confidence=0.0, source="none") for _ in segments]
    model_stats: dict = {}
    versions: dict = {}
    if cfg.model and segments and "vlm" in spec.models:
        with timer.phase("model"), tempfile.TemporaryDirectory(prefix="reelset-frames-") as work:
            speakers, entries, detail, model_stats, kinds = model_pass(spec, cfg, base, segments, bible_art, refs, Path(work), policy)
        models_used.append(spec.models["vlm"])
        versions = {**vlm.versions(), **kinds}
        audit += entries
        passes.append(summary("model", entries, True, detail))
    else:
        passes.append(summary("model", [], False, "disabled in [disambiguate]" if not cfg.model
                              else "no speech" if not segments else "no model (spec has no models.vlm)"))

    out_segments = []
    for seg, words, spk in zip(base.segments, segments, speakers, strict=True):
        changed = any(w["source"] != "base" for w in words)
        out_segments.append(CorrectedSegment(
            id=seg.id, start=seg.start, end=seg.end, original=seg.text,
            text=" ".join(w["word"] for w in words) if changed else seg.text,
            words=[CorrectedWord(**{k: w[k] for k in ("word", "start", "end", "probability", "source")}) for w in words],
            original_words=[Word.model_validate(w.model_dump()) for w in seg.words], speaker=spk,
            flags=seg.flags))
    artifact = DisambiguatedTranscript(video_id=spec.video_id, bible_sha256=bible_art.source_sha256, hotwords=hotwords,
                                       initial_prompt=prompt, conditioned_text=conditioned_text, passes=passes,
                                       segments=out_segments, speech_without_words=base.speech_without_words, audit=audit)
    write_json(out / "corrected_transcript.json", artifact)
    subs = [srt.Subtitle(index=i + 1, start=timedelta(seconds=s.start), end=timedelta(seconds=s.end),
                         content=(f"[{s.speaker.speaker}] " if s.speaker.source == "model" else "") + s.text)
            for i, s in enumerate(out_segments)]
    (out / "corrected.srt").write_text(srt.compose(subs), encoding="utf-8")
    applied = sum(a.action == "applied" for a in audit)
    alternatives = sum(a.action == "alternative" for a in audit)
    log(f"{applied} changes applied, {alternatives} alternatives kept, "
        f"{sum(a.action == 'fallback' for a in audit)} model fallbacks")
    return StepResult(device=device, models=models_used,
                      counts={"segments": len(out_segments), "applied": applied, "alternatives": alternatives,
                              "fallbacks": sum(a.action == "fallback" for a in audit),
                              **{f"applied_{p.name}": p.applied for p in passes}, **model_stats},
                      versions={"faster_whisper": faster_whisper.__version__, "rapidfuzz": rapidfuzz.__version__,
                                "jellyfish": importlib.metadata.version("jellyfish"), "ffmpeg": media.program_version("ffmpeg"), **versions})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
