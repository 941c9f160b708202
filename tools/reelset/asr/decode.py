"""The first pass of the ASR: faster-whisper's ``BatchedInferencePipeline`` over windows of up to
30 s of Silero VAD speech (:func:`transcribe`), a long file ~10 minutes at a time
(:func:`transcribe_blocks`), with progress lines on stderr at least every
:data:`PROGRESS_EVERY_S` seconds (:class:`Progress`).

Every window is decoded on its own, temperature 0, with no conditioning on the previous window's
text (the sequential decoder's conditioning is what lets one bad window start a loop that eats
the rest of a long file), text tokens only (``without_timestamps=True``, the pipeline's default:
with timestamp tokens the pipeline drops the unfinished last sentence of every window, which the
sequential decoder would re-decode from the last timestamp — measured on the 4-minute test
dialogue: one sentence lost and one 20 s window decoded as a loop), word timestamps from
cross-attention. Windows that fail the guards get a second look (reelset.asr.redecode).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper import transcribe as fw_transcribe
from faster_whisper.vad import VadOptions

from reelset.asr.redecode import redecode_failed
from reelset.asr.windows import SAMPLE_RATE, WINDOW_S, Window, block_bounds, speech_timestamps, vad_options, window_spans
from reelset.hallucination import normalize
from reelset.log import Timer, log
from reelset.schemas.transcript import AsrConfig

PROGRESS_EVERY_S = 10.0


class Progress:
    """Context manager printing ``<what>: 312.4 / 1320.0 s of audio (24 %), RTF 0.21, ETA 210 s``
    on stderr every :data:`PROGRESS_EVERY_S` seconds (a thread) and once at the end.
    ``done_s`` is set by the caller as decoding advances (seconds of audio)."""

    def __init__(self, what: str, total_s: float) -> None:
        self.what, self.total_s, self.done_s = what, total_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = 0.0

    def line(self) -> str:
        elapsed = time.perf_counter() - self._t0
        frac = min(1.0, self.done_s / self.total_s) if self.total_s else 1.0
        rtf = elapsed / self.done_s if self.done_s else None
        eta = elapsed / frac * (1 - frac) if frac > 0 else None
        return (f"{self.what}: {self.done_s:.1f} / {self.total_s:.1f} s of audio ({100 * frac:.0f} %), "
                f"{elapsed:.0f} s elapsed, RTF {f'{rtf:.3f}' if rtf else '–'}, ETA {f'{eta:.0f} s' if eta is not None else '–'}")

    def _run(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_S):
            log(self.line())

    def __enter__(self) -> Progress:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            self.done_s = self.total_s
            log(self.line())


@contextmanager
def reuse_vad(timestamps: list[dict] | None) -> Iterator[None]:
    """Inside the block, faster-whisper's batched pipeline takes ``timestamps`` (the step's own
    :func:`speech_timestamps` of the same audio, same options) instead of running Silero VAD a
    second time: one VAD pass per file (issue 15; the second pass cost ~1 s per 2 minutes of
    audio). faster-whisper 1.2.1 has no argument for precomputed VAD regions —
    ``clip_timestamps`` skips its chunk grouping and timestamp restoring — so this swaps the
    module-level ``get_speech_timestamps`` that ``BatchedInferencePipeline.transcribe`` calls
    (faster_whisper/transcribe.py), and puts it back on exit. ``None``: no change."""
    if timestamps is None:
        yield
        return
    original = fw_transcribe.get_speech_timestamps

    def precomputed(audio: np.ndarray, vad_options: VadOptions | None = None, *args, **kwargs) -> list[dict]:
        return [dict(t) for t in timestamps]

    fw_transcribe.get_speech_timestamps = precomputed
    try:
        yield
    finally:
        fw_transcribe.get_speech_timestamps = original


def transcribe(model: WhisperModel, audio: np.ndarray, timestamps: list[dict], cfg: AsrConfig, batch_size: int, what: str,
               hotwords: str | None = None, initial_prompt: str | None = None,
               timer: Timer | None = None, offset_s: float = 0.0,
               progress: Progress | None = None) -> tuple[list[Window], str, float]:
    """Batched transcription of ``audio`` (16 kHz mono float32, shape (n,)): (windows in time
    order, language, language probability). ``timestamps``: :func:`speech_timestamps` of it.
    Windows that fail Whisper's checks are decoded again (:func:`redecode_failed`).

    With ``cfg.vad`` the pipeline groups Silero VAD speech into windows of up to 30 s
    (faster-whisper ``collect_chunks``); without, fixed 30 s windows tile the audio.
    ``hotwords`` / ``initial_prompt`` condition every window (faster-whisper's prompt).
    Progress lines are labelled ``what``; with ``timer`` the batched pass is its phase
    ``first_pass`` and the second look (:func:`redecode_failed`) its phase ``redecode`` (seconds,
    inside the caller's own phase). ``audio`` may be one block of a longer
    file (:func:`transcribe_blocks`): ``offset_s`` (seconds) moves the windows' times to the
    file's, and ``progress`` is the file's progress line."""
    duration = audio.shape[0] / SAMPLE_RATE
    pipeline = BatchedInferencePipeline(model)
    # without VAD: 30 s tiles (a tail under 0.2 s is no speech); the pipeline needs clips past 30 s
    clips = None if cfg.vad else [{"start": float(t), "end": min(float(t) + WINDOW_S, duration)}
                                  for t in np.arange(0, duration, WINDOW_S) if duration - t >= 0.2]
    fps = model.frames_per_second
    spans = window_spans(timestamps, fps) if clips is None else {int(c["start"] * fps): [(c["start"], c["end"])] for c in clips}
    windows = []
    own = progress is None
    with (Progress(what, duration) if own else nullcontext(progress)) as progress, reuse_vad(timestamps if cfg.vad else None), \
            timer.phase("first_pass") if timer else nullcontext():
        # the log-mel features of every window are computed here, decoding is lazy
        segments, info = pipeline.transcribe(
            audio, language=cfg.language, beam_size=cfg.beam_size, word_timestamps=True, batch_size=batch_size,
            vad_filter=cfg.vad, vad_parameters=vad_options(cfg) if cfg.vad else None, clip_timestamps=clips,
            hotwords=hotwords, initial_prompt=initial_prompt, without_timestamps=True)
        seek = None
        for s in segments:
            # the pipeline yields the timestamped segments of each window, all with the same seek
            if s.seek != seek:
                windows.append(Window(text="", avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob, words=[],
                                      spans=spans.get(s.seek, [])))
                seek = s.seek
            win = windows[-1]
            win.text = f"{win.text} {s.text.strip()}".strip()
            # a "word" of punctuation only (". . ." on noise) is no word
            win.words += [(w.word.strip(), round(w.start, 3), round(w.end, 3), min(1.0, max(0.0, w.probability)))
                          for w in (s.words or []) if normalize(w.word)]
            progress.done_s = max(progress.done_s, offset_s + s.end)
    with timer.phase("redecode") if timer else nullcontext():
        redecode_failed(model, audio, windows, cfg, hotwords, initial_prompt, batch_size)
    if offset_s:
        for win in windows:
            win.words = [(w, round(a + offset_s, 3), round(b + offset_s, 3), p) for w, a, b, p in win.words]
            win.spans = [(round(a + offset_s, 3), round(b + offset_s, 3)) for a, b in win.spans]
    return windows, info.language, info.language_probability


def transcribe_blocks(model: WhisperModel, pcm: np.ndarray, cfg: AsrConfig, batch_size: int, what: str,
                      hotwords: str | None = None, initial_prompt: str | None = None,
                      timer: Timer | None = None) -> tuple[list[Window], list[dict], str | None, float | None]:
    """Transcribe a whole file block by block (:func:`block_bounds`, ~:data:`BLOCK_S` s each):
    Silero VAD and :func:`transcribe` (with its second look) run on one block's float32 audio at a
    time, so the peak memory is the model, one block and the file's 16-bit samples (``pcm``: 16 kHz
    mono int16, shape (n,); 1.9 MB per minute) — flat in the file's length (issue 26; before, the
    whole file's float32 audio, its VAD copies and every window's log-mel features were held at
    once: +8 MB per source minute). Returns (windows in time order, VAD regions in samples of the
    file, language, language probability); language is None when no block had speech."""
    duration = pcm.shape[0] / SAMPLE_RATE
    windows: list[Window] = []
    regions: list[dict] = []
    language, probability = None, None
    with Progress(what, duration) as progress:
        for a, b in block_bounds(pcm.shape[0], pcm):
            audio = pcm[a:b].astype(np.float32) / 32768.0
            with timer.phase("vad_regions") if timer else nullcontext():
                timestamps = speech_timestamps(audio, cfg) if cfg.vad else []
            regions += [{"start": r["start"] + a, "end": r["end"] + a} for r in timestamps]
            if cfg.vad and not timestamps:
                progress.done_s = b / SAMPLE_RATE
                continue
            got, lang, p = transcribe(model, audio, timestamps, cfg, batch_size, what, hotwords, initial_prompt, timer,
                                      offset_s=a / SAMPLE_RATE, progress=progress)
            windows += got
            if language is None:
                language, probability = lang, p
            progress.done_s = b / SAMPLE_RATE
    return windows, regions, language, probability
