"""step2-transcript-base: speech recognition of one source video with faster-whisper.

Input (spec): ``video``, ``video_id``, ``models.asr`` (a CTranslate2 Whisper model
directory, pinned in nix/models.nix) and ``config.asr``
(:class:`reelset.schemas.transcript.AsrConfig`: language, beam size, VAD, optional hotwords). It
depends on the source video only, never on the series bible, so editing the bible never
re-runs GPU ASR.

Audio is first decoded by the ffmpeg CLI to 16 kHz mono 16-bit samples (faster-whisper's own
PyAV demuxer crashes on MKV files with subtitle streams), then transcribed block by block
(~10 min each, :func:`reelset.asr.decode.transcribe_blocks`; peak memory flat in the file's length) by
faster-whisper's batched pipeline over windows of up to 30 s of Silero VAD speech
(``[asr] batch_size`` windows at a time; the VAD runs once per block, its regions are both
recorded and handed to the pipeline), word timestamps, no window conditioned on another (so one
bad window cannot start a loop that eats the rest of an episode). A window with a loop, a low
log-probability, too little of its speech covered by words, or (short of words) a high
compression ratio gets a second look: its speech in pieces of <= 10 s, decoded batched; a new
decoding replaces it only when it covers at least as much speech with words and scores better
(:func:`reelset.asr.redecode.redecode_failed`); a loop the second look leaves is decoded again from its start
in pieces of <= 5 s, the words before and after it kept (:func:`reelset.asr.redecode.repair_loops`). The words are cut into sentence segments and checked by the
hallucination guards (:mod:`reelset.hallucination`: loops, no-speech probability, words outside
VAD speech, phantom phrases; the compression ratio alone never flags text); each finding is
recorded on its segment. VAD speech that ends with no word and no flagged segment is recorded as
``speech_without_words`` (never lost silently). Progress lines
(seconds of audio done, RTF, ETA) go to stderr at least every 10 s. Device: CUDA (float16)
when CTranslate2 sees a GPU; CPU (int8) only with ``[device] allow_cpu = true``, else the step fails
(reelset/device.py); the choice is logged and recorded.

Output (``$out``): ``transcript.json`` (:class:`reelset.schemas.transcript.TranscriptArtifact`:
sentence segments with their flags, words with start/end seconds and probability, VAD
speech regions, language, model, batch size; byte-identical for the same input — wall
times and RTF are in the log only), ``transcript.srt``, ``transcript.vtt``
(every segment, flagged ones included: they are what the model heard), ``meta.json``. A
video without an audio stream gives an empty transcript
with ``has_audio: false``. Errors: ``error: <file>: ...`` (exit status 2) when the file
is not media or the model directory is missing.

Run by hand: ``python tools/step2_transcript_base.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import ctranslate2
import faster_whisper
import srt

from reelset import ReelsetError, media
from reelset.asr import decode, whisper
from reelset.asr.segments import sentence_segments, speech_without_words
from reelset.asr.windows import SAMPLE_RATE, seconds
from reelset.declare import Model, Step
from reelset.device import DevicePolicy
from reelset.schemas.device import DeviceConfig
from reelset.schemas.transcript import AsrConfig, Segment, TranscriptArtifact
from reelset.step import Context, StepResult, Timer, log, main, write_json

STEP = Step(name="step2-transcript-base", device="cuda", level="video", script="step2_transcript_base.py",
            config={"asr": AsrConfig, "device": DeviceConfig}, models={"asr": Model(key="asr.model", default="faster-whisper-large-v3")},
            video_keys=["audio"],
            cpu_kernels=True)  # CTranslate2 + numpy on the CPU: the same bytes on every AVX2 CPU (nix/cpu-kernels.json)

def write_subtitles(out: Path, segments: list[Segment]) -> None:
    """``transcript.srt`` (srt library) and ``transcript.vtt`` (ffmpeg's WebVTT muxer from the SRT)."""
    subs = [srt.Subtitle(index=i + 1, start=timedelta(seconds=s.start), end=timedelta(seconds=s.end),
                         content=s.text.strip()) for i, s in enumerate(segments)]
    (out / "transcript.srt").write_text(srt.compose(subs), encoding="utf-8")
    if subs:
        media.run_ffmpeg(["-i", str(out / "transcript.srt"), "-f", "webvtt", str(out / "transcript.vtt")],
                         "converting SRT to WebVTT", out / "transcript.srt")
    else:
        (out / "transcript.vtt").write_text("WEBVTT\n\n", encoding="utf-8")


def transcribe(src: Path, model_dir: Path, cfg: AsrConfig, timer: Timer, policy: DevicePolicy, audio: int | str | None = None,
               where: str = "") -> dict:
    """Decode and transcribe the audio track ``audio`` of ``src`` (the video's ``audio`` of dataset.toml,
    ``where`` naming it: :func:`reelset.media.choose_audio`); returns the TranscriptArtifact fields
    (except ids/model)."""
    with timer.phase("decode_audio"):
        t0 = time.perf_counter()
        pcm = media.decode_audio_16k(src, pcm16=True, audio=audio, where=where)
    duration = pcm.shape[0] / SAMPLE_RATE
    with timer.phase("load_model"):
        model, device, compute_type = whisper.load_whisper(model_dir, cfg, policy)
    batch = whisper.default_batch_size(cfg, device)
    with timer.phase("asr"):
        windows, timestamps, language, language_p = decode.transcribe_blocks(
            model, pcm, cfg, batch, "ASR", hotwords=" ".join(cfg.hotwords) or None, timer=timer)
        regions = seconds(timestamps)
        segments = sentence_segments(windows, regions, cfg)
    language = language or cfg.language
    uncovered = speech_without_words(segments, regions, cfg.guards)
    processing = time.perf_counter() - t0
    flagged = [s for s in segments if s.flags]
    log(f"{duration:.1f} s of audio in {processing:.1f} s (RTF {processing / duration if duration else 0:.3f}); "
        f"{len(windows)} windows in batches of {batch} ({sum(bool(w.redecoded) for w in windows)} decoded again), "
        f"{len(segments)} segments, {len(flagged)} flagged")
    for s in flagged:
        log(f"  flagged {s.start:.2f}-{s.end:.2f} {s.text[:80]!r}: " + "; ".join(f.detail for f in s.flags))
    for a, b in uncovered:
        log(f"  speech without words {a:.2f}-{b:.2f} ({b - a:.1f} s of VAD speech the model did not transcribe)")
    return dict(language=language, language_probability=round(language_p, 4) if language_p is not None else None,
                compute_type=compute_type, device=device, batch_size=batch, audio_duration_s=round(duration, 3),
                vad={"enabled": cfg.vad, "min_silence_duration_ms": cfg.vad_min_silence_ms},
                speech_regions=regions, hotwords=cfg.hotwords, segments=segments, speech_without_words=uncovered)


def run(ctx: Context) -> StepResult:
    spec, out, timer, policy = ctx.spec, ctx.out, ctx.timer, ctx.policy
    if not spec.video or not spec.video_id:
        raise ReelsetError(f"{STEP}: spec has no video (video-level step)")
    cfg = ctx.config["asr"]
    src = Path(spec.video)
    model_ref = spec.models.get("asr")
    if model_ref is None:
        raise ReelsetError(f"{STEP}: spec has no models.asr")
    with timer.phase("probe"):
        audio = media.has_audio(src)
    if audio:
        fields = transcribe(src, Path(model_ref.path), cfg, timer, policy, spec.video_options.get("audio"), spec.video_entry())
        artifact = TranscriptArtifact(video_id=spec.video_id, has_audio=True, model=model_ref, **fields)
    else:
        log(f"{src.name}: no audio stream; writing an empty transcript (has_audio: false)")
        artifact = TranscriptArtifact(video_id=spec.video_id, has_audio=False, language=cfg.language, model=None,
                                      compute_type=None, device="cpu", audio_duration_s=0.0, vad={"enabled": cfg.vad}, speech_regions=[], segments=[])
    write_json(out / "transcript.json", artifact)
    write_subtitles(out, artifact.segments)
    words = sum(len(s.words) for s in artifact.segments)
    return StepResult(device=artifact.device, models=[model_ref] if audio else [],
                      counts={"segments": len(artifact.segments), "words": words,
                              "flagged_segments": sum(bool(s.flags) for s in artifact.segments),
                              "speech_without_words_runs": len(artifact.speech_without_words),
                              "speech_without_words_ms": round(1000 * sum(b - a for a, b in artifact.speech_without_words))},
                      versions={"faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                                "ffmpeg": media.program_version("ffmpeg")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
