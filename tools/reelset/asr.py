"""faster-whisper for the ASR steps (step2-transcript-base, step2-transcript-disambiguate):
model loading, batched VAD-chunked transcription with progress lines, sentence segments.

- :func:`load_whisper`: the CTranslate2 model on CUDA when present, else the CPU.
- :func:`transcribe`: faster-whisper's ``BatchedInferencePipeline`` over windows of up to
  30 s of Silero VAD speech (every window decoded on its own, temperature 0, no
  conditioning on the previous window's text: the sequential decoder's conditioning is what
  lets one bad window start a loop that eats the rest of a long file), text tokens only
  (``without_timestamps=True``, the pipeline's default: with timestamp tokens the pipeline
  drops the unfinished last sentence of every window, which the sequential decoder would
  re-decode from the last timestamp — measured on the 4-minute test dialogue: one sentence
  lost and one 20 s window decoded as a loop), word timestamps from cross-attention.
  Progress on stderr at least every :data:`PROGRESS_EVERY_S` seconds.
- :func:`sentence_segments`: the windows' words cut into sentences (after . ? !, at pauses
  >= ``[asr] split_pause_s`` between words or in the VAD's speech regions, long ones at their
  longest pause), each checked by the hallucination guards (:mod:`reelset.hallucination`).
- :func:`redecode_failed`: the second look at windows that fail Whisper's checks (shorter
  pieces, batched), and :func:`repair_loops` for a loop that survives it.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper import transcribe as fw_transcribe
from faster_whisper.transcribe import get_compression_ratio
from faster_whisper.vad import VadOptions, get_speech_timestamps

from reelset import ReelsetError, cpu_kernels
from reelset import device as devices
from reelset.hallucination import normalize, repetition_spans, segment_flags
from reelset.log import Timer, log
from reelset.schemas.transcript import AsrConfig, GuardConfig, Segment, Word

SAMPLE_RATE = 16000
WINDOW_S = 30  # Whisper's input window, seconds
PROGRESS_EVERY_S = 10.0
# Default windows per batch: a batch of 30 s windows costs ~0.5 GB of activations with
# large-v3 in float16, so 16 fit a 24 GB card beside the weights; on the CPU larger batches
# stop paying off beyond the core count (measured with tiny.en on 2 cores: 8 ≈ 16).
DEFAULT_BATCH = {"cuda": 16, "cpu": 8}
# sentence ends: . ? ! … (also CJK), optionally followed by closing quotes/brackets
SENTENCE_END = re.compile(r"[.?!…。？！]+[\"'”’)\]]*$")
CLAUSE_END = re.compile(r"[,;:，、]+[\"'”’)\]]*$")
# "Mr." etc. do not end a sentence
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "mt", "no", "lt", "sgt", "capt", "gen", "col"}


def pick_device() -> tuple[str, str]:
    """('cuda', 'float16') when CTranslate2 sees a CUDA device, else ('cpu', 'int8') if the
    step's device policy allows the CPU (ReelsetError otherwise, see reelset/device.py)."""
    if devices.pick("ctranslate2") == "cuda":
        return "cuda", "float16"
    return "cpu", "int8"


def default_batch_size(cfg: AsrConfig, device: str) -> int:
    """``[asr] batch_size``, or :data:`DEFAULT_BATCH` for ``device`` ('cpu' / 'cuda')."""
    return cfg.batch_size or DEFAULT_BATCH[device]


def load_whisper(model_dir: Path, cfg: AsrConfig) -> tuple[WhisperModel, str, str]:
    """Load the CTranslate2 Whisper model in ``model_dir``: (model, device, compute_type).

    Picks CUDA when present, else CPU if the step's device policy allows it (reelset/device.py); seeds CTranslate2's sampling with
    ``cfg.seed`` (faster-whisper's temperature fallback samples). Raises ReelsetError when ``model_dir``
    has no ``model.bin``.
    """
    if not (model_dir / "model.bin").is_file():
        raise ReelsetError(f"{model_dir}: not a CTranslate2 Whisper model directory (no model.bin)")
    device, compute_type = pick_device()
    ctranslate2.set_random_seed(cfg.seed)
    log(f"ASR on {device} ({compute_type}); "
        f"{'CUDA device found' if device == 'cuda' else 'no CUDA device visible, using CPU'}")
    with ct2_cpu_config() as kernels:
        model = WhisperModel(str(model_dir), device=device, compute_type=compute_type,
                             cpu_threads=cfg.cpu_threads, num_workers=1)
    if device == "cpu" and kernels:
        log("CTranslate2 CPU kernels: " + ", ".join(f"{k} {v}" for k, v in kernels.items()))
        for k, v in kernels.items():
            devices.note(f"ctranslate2_{k}", v)
    if device == "cpu":  # what pins the numeric kernels (reelset.cpu_kernels), as this process got it
        for k, v in cpu_kernels.in_effect().items():
            devices.note(f"env_{k}", v or "unset")
        devices.note("ctranslate2_intra_threads", str(cfg.cpu_threads))
        if cpu_kernels.unpinned():
            log(f"warning: {', '.join(cpu_kernels.unpinned())} not pinned (reelset/cpu_kernels.py): the transcript "
                "may differ from another CPU's; a Nix build pins them")
    return model, device, compute_type


# CTranslate2's system-configuration log lines (src/cpu/backend.cc, src/utils.cc log_system_config)
_CT2_LINES = {"isa": re.compile(r"Selected ISA: (\S+)"), "use_mkl": re.compile(r"Use Intel MKL: (\S+)"),
              "sgemm": re.compile(r"SGEMM backend: (\S+)"), "gemm_s8": re.compile(r"GEMM_S8 backend: (\S+)")}
_ct2_config: dict[str, str] = {}


@contextmanager
def ct2_cpu_config() -> Iterator[dict[str, str]]:
    """Inside the block, CTranslate2's first model load in this process logs which CPU kernels it
    picked; on exit the yielded dict holds them: ``isa`` (AVX512 / AVX2 / AVX / GENERIC,
    ``CT2_FORCE_CPU_ISA``), ``use_mkl`` (true on GenuineIntel CPUs, else false: oneDNN;
    ``CT2_USE_MKL``), ``sgemm`` and ``gemm_s8`` (MKL / DNNL …). These decide the int8 arithmetic,
    so the words tiny.en hears on the CPU (bench/bench_asr_variants.py). CTranslate2 has no API
    for them and logs them once per process at INFO level on stderr (C++ spdlog), so the block
    points file descriptor 2 at a temporary file and parses it; later loads reuse the first
    answer."""
    found: dict[str, str] = dict(_ct2_config)
    if _ct2_config:
        yield found
        return
    import logging
    import os
    import sys
    import tempfile

    level = ctranslate2.get_log_level()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            ctranslate2.set_log_level(logging.INFO)
            yield found
        finally:
            ctranslate2.set_log_level(level)
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read()
    for line in text.splitlines():  # anything else CTranslate2 said goes to stderr as before
        if "[ctranslate2]" in line and "[info]" in line:
            continue
        print(line, file=sys.stderr)
    for key, pattern in _CT2_LINES.items():
        m = pattern.search(text)
        if m:
            found[key] = m.group(1)
    _ct2_config.update(found)


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


@dataclass
class Window:
    """One decoded window (up to 30 s of speech) of faster-whisper's batched pipeline.

    ``words``: (word, start s, end s, probability) in the source's time (VAD gaps restored);
    ``spans``: the source's speech regions ([start, end] s) the window holds; ``redecoded``:
    why the window was decoded a second time (:func:`redecode_failed`), if it was."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    words: list[tuple[str, float, float, float]]
    spans: list[tuple[float, float]] = field(default_factory=list)
    redecoded: str | None = None


def vad_options(cfg: AsrConfig) -> VadOptions:
    """Silero VAD options: ``[asr] vad_min_silence_ms``, regions cut at 30 s (the pipeline's own choice)."""
    return VadOptions(min_silence_duration_ms=cfg.vad_min_silence_ms, max_speech_duration_s=WINDOW_S)


def speech_timestamps(audio: np.ndarray, cfg: AsrConfig) -> list[dict]:
    """Silero VAD speech regions of ``audio`` (16 kHz mono float32) as faster-whisper gives
    them: ``{"start": sample, "end": sample}``, with the options the pipeline uses."""
    return get_speech_timestamps(audio, vad_options(cfg))


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


def seconds(timestamps: list[dict]) -> list[tuple[float, float]]:
    """VAD regions in samples → [start, end] seconds (ms precision)."""
    return [(round(r["start"] / SAMPLE_RATE, 3), round(r["end"] / SAMPLE_RATE, 3)) for r in timestamps]


def window_failed(win: Window, guards: GuardConfig) -> str | None:
    """Why Whisper would decode ``win`` again, or None: its text compresses better than
    ``guards.compression_ratio`` or holds a repetition loop, or its average log-probability is
    below ``guards.log_prob`` without the window looking silent (openai/whisper
    ``transcribe.py``, ``needs_fallback``; the loop check is added because a loop of short
    tokens such as ".0 .0 .0" comes out with a high log-probability), or its words leave more
    than ``1 - guards.min_coverage`` of its VAD speech without words (:func:`coverage`), or one of
    its VAD regions of ``guards.uncovered_min_s`` or more mostly without words (:func:`bare_regions`). Any of
    these only triggers a second look (:func:`redecode_failed`): the compression ratio alone
    never discards or flags text — real repeated phrasing (a list read aloud, a refrain)
    compresses well too."""
    loops = repetition_spans([normalize(w[0]) for w in win.words], guards)
    if loops:
        return f"{loops[0][2]!r} repeated {loops[0][3]} times"
    if win.avg_logprob < guards.log_prob and not win.no_speech_prob > guards.no_speech:
        return f"average log-probability {win.avg_logprob:.2f} < {guards.log_prob}"
    speech = sum(e - s for s, e in win.spans)
    covered = coverage(win, guards) if speech > 0 else 0.0
    if speech > 0 and covered < guards.min_coverage * speech:
        return f"words cover {covered:.1f} of {speech:.1f} s of speech"
    # one region without words in a window whose others are covered: a sentence the decoder
    # skipped (issue 37: 4.1 s of a 30 s window, unpinned with oneDNN at AVX2), too little of the
    # window for the coverage rule above
    bare = bare_regions(win, guards)
    if bare:
        return f"speech {bare[0][0]:.1f}-{bare[0][1]:.1f} s without words"
    # a high ratio with no loop, a good log-probability and words over nearly all the speech is
    # repeated phrasing (a list, a refrain): looking again costs a decoding per 10 s and finds nothing
    ratio = get_compression_ratio(win.text)
    if ratio > guards.compression_ratio and (speech <= 0 or covered < COMPRESSED_COVERAGE * speech):
        return f"compression ratio {ratio:.2f} > {guards.compression_ratio}"
    return None


COMPRESSED_COVERAGE = 0.95  # a window over the compression ratio is looked at again below this coverage


COVER_PAD_S = 0.3  # a word covers its own span and this much around it (breaths, VAD padding)
MAX_WORD_S = 1.2  # a word covers at most this long: a longer "word" is a timestamp stretched over speech it skipped


def covered_intervals(words: list, pad: float = COVER_PAD_S, max_word: float | None = MAX_WORD_S) -> list[tuple[float, float]]:
    """Union of the words' [start - pad, min(end, start + max_word) + pad] spans (seconds),
    sorted and merged; ``words``: (word, start, end, …) tuples."""
    out: list[list[float]] = []
    for w in sorted(words, key=lambda w: w[1]):
        a, b = w[1] - pad, (w[2] if max_word is None else min(w[2], w[1] + max_word)) + pad
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def overlap_s(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds where two sorted interval lists overlap."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def coverage(win: Window, guards: GuardConfig) -> float:
    """Seconds of the window's VAD speech (``win.spans``) covered by its words, loop words
    (:func:`reelset.hallucination.repetition_spans`) left out: the measure a second decoding must
    not lose (issue 26: an empty decoding covers nothing)."""
    tokens = [normalize(w[0]) for w in win.words]
    in_loop = {k for s, e, _, _ in repetition_spans(tokens, guards) for k in range(s, e)}
    words = [w for k, w in enumerate(win.words) if k not in in_loop]
    return overlap_s(covered_intervals(words), sorted(win.spans))


def bare_regions(win: Window, guards: GuardConfig) -> list[tuple[float, float]]:
    """The window's VAD speech regions (``win.spans``) of at least ``guards.uncovered_min_s``
    seconds whose words (loop words left out, ±:data:`COVER_PAD_S`) cover less than half."""
    tokens = [normalize(w[0]) for w in win.words]
    in_loop = {k for s, e, _, _ in repetition_spans(tokens, guards) for k in range(s, e)}
    covered = covered_intervals([w for k, w in enumerate(win.words) if k not in in_loop])
    return [(a, b) for a, b in win.spans if b - a >= guards.uncovered_min_s and overlap_s(covered, [(a, b)]) < 0.5 * (b - a)]


def loop_words(win: Window, guards: GuardConfig) -> int:
    """Words of ``win`` inside repetition loops."""
    return sum(e - s for s, e, _, _ in repetition_spans([normalize(w[0]) for w in win.words], guards))


def better(new: Window, old: Window, guards: GuardConfig) -> bool:
    """True when the second decoding ``new`` of a window may replace the first, ``old``: it
    covers at least as much of the window's VAD speech with words (:func:`coverage`, 0.5 s
    tolerance) and scores better — fewer loop words, or as many and more than 1 s more speech
    covered, or as many and a higher average log-probability. An empty or shorter decoding of a
    window with words never wins."""
    if old.words and not new.words:
        return False
    new_cov, old_cov = coverage(new, guards), coverage(old, guards)
    if new_cov + 0.5 < old_cov:
        return False
    new_loops, old_loops = loop_words(new, guards), loop_words(old, guards)
    return (new_loops < old_loops or (new_loops == old_loops and new_cov > old_cov + 1.0)
            or (new_loops == old_loops and new_cov >= old_cov - 0.5 and new.avg_logprob > old.avg_logprob))


def _kind(why: str) -> str:
    """Short name of a :func:`window_failed` reason, for the log."""
    return next((k for k, mark in (("loop", "repeated"), ("low log-probability", "log-probability"),
                                   ("too little speech covered", "cover"), ("speech without words", "without words"),
                                   ("compression ratio", "compression"))
                 if mark in why), why)


SUB_WINDOW_S = 10.0  # a window decoded again is cut into pieces of at most this much speech
CUT_SEARCH_S = 1.5  # a cut goes to the quietest 20 ms frame this close to its ideal place


def sub_windows(audio: np.ndarray, spans: list[tuple[float, float]], max_s: float = SUB_WINDOW_S,
                max_gap_s: float = 2.0) -> list[tuple[float, float]]:
    """The window's speech ``spans`` (seconds) as pieces of at most ``max_s`` seconds: regions
    less than ``max_gap_s`` apart are packed into one piece while it stays within ``max_s`` (each
    piece is padded to Whisper's 30 s input, so fewer pieces cost fewer decodings: a 27 s window of
    eleven short regions is 3 pieces, not 7), and a longer region is cut at the quietest 20 ms
    frame (RMS) within :data:`CUT_SEARCH_S` of its ideal place, so that no word is cut in two where
    the speech has any pause (tiny.en loops less on shorter windows of unpaused speech: measured
    9 → 30 of 40 sentences with 30 → 10 s windows)."""
    cut_spans: list[tuple[float, float]] = []
    for start, end in spans:  # long regions cut first
        a = start
        while end - a > max_s:
            ideal = a + max_s * 0.9
            cut = quietest(audio, max(a + 1.0, ideal - CUT_SEARCH_S), min(a + max_s, ideal + CUT_SEARCH_S, end - 0.5))
            cut_spans.append((a, cut))
            a = cut
        cut_spans.append((a, end))
    out: list[tuple[float, float]] = []
    for a, b in cut_spans:
        if out and a - out[-1][1] < max_gap_s and b - out[-1][0] <= max_s:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return [(round(a, 3), round(b, 3)) for a, b in out]


def decode_clips(model: WhisperModel, audio: np.ndarray, clips: list[tuple[float, float]], cfg: AsrConfig,
                 batch_size: int, hotwords: str | None, initial_prompt: str | None) -> list[Window]:
    """faster-whisper's batched pipeline over ``clips`` ([start, end] seconds, each <= 30 s,
    no VAD), temperature 0, word timestamps: one Window per clip (empty ones included), in
    ``clips`` order, words in the source's time."""
    if not clips:
        return []
    pipeline = BatchedInferencePipeline(model)
    fps = model.frames_per_second
    by_seek = {int(a * fps): Window(text="", avg_logprob=0.0, no_speech_prob=1.0, words=[], spans=[(a, b)])
               for a, b in clips}
    segments, _ = pipeline.transcribe(
        audio, language=cfg.language, beam_size=cfg.beam_size, word_timestamps=True, batch_size=batch_size,
        vad_filter=False, clip_timestamps=[{"start": float(a), "end": float(b)} for a, b in clips],
        hotwords=hotwords, initial_prompt=initial_prompt, without_timestamps=True)
    for s in segments:
        win = by_seek.get(s.seek)
        if win is None:  # the pipeline's seek is int(start * fps) of its clip
            win = min(by_seek.values(), key=lambda w: abs(w.spans[0][0] - s.start))
        if not win.words:
            win.avg_logprob, win.no_speech_prob = s.avg_logprob, s.no_speech_prob
        win.text = f"{win.text} {s.text.strip()}".strip()
        win.words += [(w.word.strip(), round(w.start, 3), round(w.end, 3), min(1.0, max(0.0, w.probability)))
                      for w in (s.words or []) if normalize(w.word)]
    return [by_seek[int(a * fps)] for a, _ in clips]


def merge_windows(pieces: list[Window], spans: list[tuple[float, float]], why: str) -> Window:
    """One Window of the ``pieces`` decoded from a window's speech ``spans``: words in time
    order, scores weighted by word count."""
    words = sorted((w for p in pieces for w in p.words), key=lambda w: w[1])
    weight = [max(1, len(p.words)) for p in pieces]
    return Window(text=" ".join(p.text for p in pieces if p.text),
                  avg_logprob=float(np.average([p.avg_logprob for p in pieces], weights=weight)) if pieces else 0.0,
                  no_speech_prob=float(np.average([p.no_speech_prob for p in pieces], weights=weight)) if pieces else 1.0,
                  words=words, spans=spans, redecoded=why)


def redecode_failed(model: WhisperModel, audio: np.ndarray, windows: list[Window], cfg: AsrConfig,
                    hotwords: str | None, initial_prompt: str | None, batch_size: int | None = None) -> int:
    """A second look at every window that :func:`window_failed`, in place, at a cost bounded
    by the first pass:

    1. all failing windows' speech, cut into pieces of <= :data:`SUB_WINDOW_S` s
       (:func:`sub_windows`), decoded together by the batched pipeline (temperature 0);
    2. only a window whose words still cover too little of its speech (``[asr.guards]
       min_coverage``), or leave one of its regions bare (:func:`bare_regions`), is decoded a
       third time by the sequential decoder with Whisper's temperature fallback (seeded), over
       its speech regions only;
    3. a window that still holds a repetition loop is decoded again from the loop's start in
       pieces of <= :data:`LOOP_PIECE_S` s, the words before and after the loop kept
       (:func:`repair_loops`; all such windows' pieces batched together).
    A decoding replaces the window only when it is :func:`better` (covers at least as much speech
    with words and scores better; never an empty or shorter one). A window that stays bad is
    kept and its problems are flagged (sentence_segments). Measured on the 11-minute test
    dialogue: one 27 s window of the batched pass decoded as ".0 .0 .0 …" comes back with every
    sentence. Returns the number of windows looked at again."""
    g = cfg.guards
    failing = [(i, why) for i, win in enumerate(windows) if win.spans and (why := window_failed(win, g))]
    if not failing:
        return 0
    plan = {i: sub_windows(audio, windows[i].spans) for i, _ in failing}
    clips = [c for i, _ in failing for c in plan[i]]
    log(f"second look at {len(failing)} of {len(windows)} windows: {len(clips)} pieces of <= {SUB_WINDOW_S:.0f} s "
        f"decoded in batches ({', '.join(sorted({_kind(why) for _, why in failing}))})")
    decoded = iter(decode_clips(model, audio, clips, cfg, batch_size or DEFAULT_BATCH["cpu"], hotwords, initial_prompt))
    for i, why in failing:
        old = windows[i]
        new = merge_windows([next(decoded) for _ in plan[i]], old.spans, why)
        speech = sum(e - s for s, e in old.spans)
        chosen = new if better(new, old, g) else old
        bare = bare_regions(chosen, g)
        if coverage(chosen, g) < g.min_coverage * speech or bare:
            log(f"  window {old.spans[0][0]:.1f}-{old.spans[-1][1]:.1f} s: words cover {coverage(chosen, g):.1f} of "
                f"{speech:.1f} s of speech{f', none {bare[0][0]:.1f}-{bare[0][1]:.1f} s' if bare else ''}; "
                "decoding it again with temperature fallback")
            segs, offset = _sequential(model, audio, [t for span in old.spans for t in span], cfg, hotwords, initial_prompt)
            third = merge_windows([Window(text=s.text.strip(), avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
                                          words=[(w.word.strip(), round(w.start + offset, 3), round(w.end + offset, 3),
                                                  min(1.0, max(0.0, w.probability)))
                                                 for w in (s.words or []) if normalize(w.word)]) for s in segs],
                                  old.spans, why)
            if better(third, chosen, g):
                chosen = third
        if chosen is not old:
            windows[i] = chosen
            log(f"  {old.spans[0][0]:.1f}-{old.spans[-1][1]:.1f} s ({why}) now: {chosen.text[:100]!r}")
        else:
            windows[i].redecoded = None
            log(f"  {old.spans[0][0]:.1f}-{old.spans[-1][1]:.1f} s ({why}): no decoding was better; the first is kept")
    repair_loops(model, audio, windows, [i for i, _ in failing], cfg, batch_size or DEFAULT_BATCH["cpu"], hotwords,
                 initial_prompt)
    return len(failing)


LOOP_PIECE_S = 5.0  # a loop the second look left is decoded again in pieces of at most this much speech


def redecode_plan(audio: np.ndarray, win: Window, guards: GuardConfig,
                  max_s: float) -> tuple[int, int, list[tuple[float, float]]]:
    """What of ``win`` to decode again to repair its first repetition loop: (k0, k1, pieces), with
    ``win.words[:k0]`` and ``win.words[k1:]`` kept and ``pieces`` ([start, end] s, each at most
    ``max_s`` seconds of speech, :func:`sub_windows`) the window's speech in between: from the end
    of the last word before the loop to the start of the first word after it (the window's end when
    the loop runs to it, as it mostly does: the decoder stays stuck), so the words heard before it
    are kept and only the looped speech costs decodings (issue 37). The loop's own timestamps are
    not used: a loop's words bunch up or stretch over speech it never heard. A window without a
    loop: (0, len(words), all its speech).

    Not used for the second look itself: on a list read without pauses (tiny.en, en-us+m4, issue 37)
    keeping the first pass's words before a loop and decoding the rest lost 4 of 33 sentences that
    decoding the whole window in 10 s pieces heard (the words before a loop are often half-wrong)."""
    loops = repetition_spans([normalize(w[0]) for w in win.words], guards)
    if not loops or not win.spans:
        return 0, len(win.words), sub_windows(audio, win.spans, max_s=max_s)
    k0, k1 = loops[0][0], loops[0][1]
    if k0 == 0 and k1 == len(win.words):
        return 0, k1, sub_windows(audio, win.spans, max_s=max_s)
    t0 = win.words[k0 - 1][2] if k0 else win.spans[0][0]
    t1 = win.words[k1][1] if k1 < len(win.words) else win.spans[-1][1]
    speech = [(max(a, t0), min(b, t1)) for a, b in win.spans if min(b, t1) - max(a, t0) > 0.1]
    return k0, k1, sub_windows(audio, speech, max_s=max_s)


def splice(win: Window, k0: int, k1: int, clips: list[tuple[float, float]], pieces: list[Window], why: str) -> Window:
    """``win`` with its words ``[k0:k1]`` replaced by the words of ``pieces`` (the decodings of
    ``clips``, :func:`redecode_plan`): words in time order, scores weighted by word count (the kept
    words carry ``win``'s), marked as decoded again for ``why``."""
    kept = win.words[:k0] + win.words[k1:]
    if not kept:
        return merge_windows(pieces, win.spans, why)
    new = merge_windows([Window(text="", avg_logprob=win.avg_logprob, no_speech_prob=win.no_speech_prob, words=kept),
                         *pieces], win.spans, why)
    new.text = " ".join(w[0] for w in new.words)
    return new


def repair_loops(model: WhisperModel, audio: np.ndarray, windows: list[Window], which: list[int], cfg: AsrConfig,
                 batch_size: int, hotwords: str | None, initial_prompt: str | None) -> int:
    """Repair, in place, the repetition loops the second look of :func:`redecode_failed` left in
    ``windows[i]`` (``i`` in ``which``): each window's loop speech, from the end of the last word
    before the loop, is decoded again in shorter pieces (:func:`redecode_plan`, <=
    :data:`LOOP_PIECE_S` s of speech each; all windows' pieces in one batched pass), and the pieces'
    words replace the loop's when the window then scores :func:`better` (fewer loop words, as much
    speech covered); the words before and after the loop stay. A loop that stays is flagged
    (sentence_segments). Returns the number of windows repaired."""
    g = cfg.guards
    plans = {i: redecode_plan(audio, windows[i], g, LOOP_PIECE_S) for i in which if loop_words(windows[i], g)}
    plans = {i: plan for i, plan in plans.items() if plan[2]}
    if not plans:
        return 0
    clips = [c for plan in plans.values() for c in plan[2]]
    log(f"loops left in {len(plans)} windows: each loop's speech decoded again in {len(clips)} pieces of "
        f"<= {LOOP_PIECE_S:.0f} s")
    decoded = iter(decode_clips(model, audio, clips, cfg, batch_size, hotwords, initial_prompt))
    repaired = 0
    for i, plan in plans.items():
        win = windows[i]
        new = splice(win, *plan, [next(decoded) for _ in plan[2]], win.redecoded or "repetition loop")
        where = f"{win.spans[0][0]:.1f}-{win.spans[-1][1]:.1f} s"
        if better(new, win, g):
            windows[i] = new
            repaired += 1
            log(f"  {where}: loop repaired from {plan[2][0][0]:.1f} s: {new.text[:100]!r}")
        else:
            log(f"  {where}: the loop's pieces were no better; the loop stays (flagged)")
    return repaired


SLICE_MARGIN_S = 1.0  # audio kept around a window decoded again (its log-mel frames need their neighbours)


def _sequential(model: WhisperModel, audio: np.ndarray, clips: list[float], cfg: AsrConfig, hotwords: str | None,
                initial_prompt: str | None) -> tuple[list, float]:
    """faster-whisper's sequential decoder on ``clips`` ([start, end, start, end, …] seconds):
    timestamp tokens, Whisper's temperature fallback (seeded), no conditioning on earlier text.
    Returns (segments, offset s): segment and word times are relative to ``offset``.

    Only the audio of the clips (plus :data:`SLICE_MARGIN_S` each side, cut on the 10 ms hop of
    the log-mel frames) goes to the decoder: ``WhisperModel.transcribe`` computes the features of
    all the audio it is given, which for a whole episode was ~0.5 GB of STFT per window decoded
    again (bench/RESULTS.md, the 22-minute episode)."""
    hop = SAMPLE_RATE // 100
    first = max(0, int((clips[0] - SLICE_MARGIN_S) * 100)) * hop
    last = min(audio.shape[0], (int((clips[-1] + SLICE_MARGIN_S) * 100) + 1) * hop)
    offset = first / SAMPLE_RATE
    g = cfg.guards
    segs, _ = model.transcribe(
        audio[first:last], language=cfg.language, beam_size=cfg.beam_size, word_timestamps=True, vad_filter=False,
        clip_timestamps=[round(t - offset, 3) for t in clips], condition_on_previous_text=False,
        compression_ratio_threshold=g.compression_ratio, log_prob_threshold=g.log_prob, no_speech_threshold=g.no_speech,
        hotwords=hotwords, initial_prompt=initial_prompt)
    return list(segs), offset


def window_spans(timestamps: list[dict], fps: int) -> dict[int, list[tuple[float, float]]]:
    """The speech regions ([start, end] s) of each window the pipeline decodes, keyed by the
    ``seek`` it gives the window's segments (int(offset s * fps), offset = speech seconds
    before the window). Same grouping as faster-whisper's ``collect_chunks``: regions join a
    window while its speech stays <= 30 s. Not its metadata: in faster-whisper 1.2.1 the
    ``segments`` of every window after the first lack the window's first region (its audio
    holds it), so a window decoded again from them lost a sentence (measured)."""
    out, cur, cur_len, total = {}, [], 0, 0
    for r in timestamps:
        n = r["end"] - r["start"]
        if cur and cur_len + n > WINDOW_S * SAMPLE_RATE:
            out[int(total / SAMPLE_RATE * fps)] = cur
            total += cur_len
            cur, cur_len = [], 0
        cur.append((r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE))
        cur_len += n
    if cur:
        out[int(total / SAMPLE_RATE * fps)] = cur
    return out


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


BLOCK_S = 600.0  # audio transcribed at a time (issue 26: peak memory flat in the source's length)
BLOCK_CUT_SEARCH_S = 5.0  # a block ends at the quietest 20 ms frame this close to its ideal end


def quietest(audio: np.ndarray, lo_s: float, hi_s: float) -> float:
    """Middle (seconds) of the 20 ms frame of lowest RMS in ``audio[lo_s:hi_s]`` (16 kHz samples,
    int16 or float32)."""
    frame = SAMPLE_RATE // 50
    lo, hi = int(lo_s * SAMPLE_RATE), int(hi_s * SAMPLE_RATE)
    seg = audio[lo:hi]
    n = len(seg) // frame
    if n < 2:
        return (lo_s + hi_s) / 2
    rms = np.sqrt((seg[:n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1))
    return (lo + int(np.argmin(rms)) * frame + frame // 2) / SAMPLE_RATE


def block_bounds(n_samples: int, audio: np.ndarray, block_s: float = BLOCK_S) -> list[tuple[int, int]]:
    """[start, end) sample ranges of the blocks of a file of ``n_samples``: about ``block_s``
    seconds each, every cut at the quietest 20 ms within :data:`BLOCK_CUT_SEARCH_S` of its ideal
    place (a pause between sentences when there is one). One block when the file is shorter."""
    total_s = n_samples / SAMPLE_RATE
    cuts, t = [0.0], block_s
    while total_s - t > block_s / 4:
        cuts.append(quietest(audio, t - BLOCK_CUT_SEARCH_S, t + BLOCK_CUT_SEARCH_S))
        t = cuts[-1] + block_s
    bounds = [int(round(c * SAMPLE_RATE)) for c in cuts] + [n_samples]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


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


def _sentence_end(word: str) -> bool:
    return bool(SENTENCE_END.search(word)) and normalize(word) not in ABBREVIATIONS


def split_long(words: list, max_s: float) -> list[list]:
    """Cut ``words`` ((word, start, end, p) tuples, seconds) into pieces of at most ``max_s``
    seconds, recursively, each time at the longest inner pause (gaps compared to 0.1 s; among
    pauses that long, a clause mark , ; : first, then the cut nearest the middle). A run-on
    segment — Whisper often writes no punctuation at all — is so cut where the speaker paused
    longest, most likely between two lines (issue 37). A single word is never cut."""
    if len(words) < 2 or words[-1][2] - words[0][1] <= max_s:
        return [words]
    mid = (words[0][1] + words[-1][2]) / 2
    cut = max(range(1, len(words)), key=lambda i: (round(words[i][1] - words[i - 1][2], 1),
                                                  bool(CLAUSE_END.search(words[i - 1][0])), -abs(words[i][1] - mid)))
    return split_long(words[:cut], max_s) + split_long(words[cut:], max_s)


def vad_silences(regions: list[tuple[float, float]], cfg: AsrConfig) -> list[tuple[float, float]]:
    """(middle s, length s) of the silence between each two consecutive VAD speech ``regions``
    ([start, end] s, sorted), as the VAD measured it. Silero pads each region by ``speech_pad_ms``
    (faster-whisper's default 400 ms) on both sides and, when a silence is shorter than two pads,
    gives each side half of it (faster_whisper/vad.py ``get_speech_timestamps``): two regions
    ``gap`` seconds apart bound a silence of ``gap`` + 2 pads, and two touching regions one of at
    least ``[asr] vad_min_silence_ms`` (shorter silences never split a region; a region cut at 30 s
    of speech may touch the next without any silence, so with ``vad_min_silence_ms`` at or above
    ``split_pause_s`` such a cut ends a segment too)."""
    opts = vad_options(cfg)
    pad, least = 2 * opts.speech_pad_ms / 1000, opts.min_silence_duration_ms / 1000
    return [((b + a2) / 2, a2 - b + pad if a2 - b > 0 else least)
            for (_, b), (a2, _) in zip(regions, regions[1:], strict=False)]


def pause_cuts(words: list, regions: list[tuple[float, float]], cfg: AsrConfig) -> set[int]:
    """Indices ``k`` of ``words`` ((word, start, end, …) tuples, seconds, in time order) before
    which a pause ends a segment: word ``k`` starts at least ``[asr] split_pause_s`` after word
    ``k-1`` ends, or a VAD silence (:func:`vad_silences` of ``regions``) at least that long has its
    middle between the two words' midpoints. The second rule holds when the word timestamps do
    not show the pause: cross-attention timestamps can stretch a line's last word over the
    silence after it (issue 37: an 11.7 s segment over lines 0.8 s apart)."""
    pause = cfg.split_pause_s
    silences = [m for m, length in vad_silences(regions, cfg) if length >= pause]
    cuts = set()
    for k in range(1, len(words)):
        before, after = (words[k - 1][1] + words[k - 1][2]) / 2, (words[k][1] + words[k][2]) / 2
        i = bisect.bisect_right(silences, before)  # the first silence whose middle comes after word k-1's
        if words[k][1] - words[k - 1][2] >= pause or (i < len(silences) and silences[i] < after):
            cuts.add(k)
    return cuts


def clamp_to_speech(words: list, regions: list[tuple[float, float]]) -> list:
    """Words ((word, start, end, p) tuples) cut to the VAD region holding their midpoint.

    The pipeline decodes speech with the silences between VAD regions cut out and maps word
    times back by the region of each word's midpoint (faster-whisper
    ``restore_speech_timestamps``), so the last word before a cut can end inside the next
    region, across a silence that was never decoded."""
    out = []
    for w, start, end, p in words:
        mid = (start + end) / 2
        region = next(((a, b) for a, b in regions if a <= mid <= b), None)
        if region is not None:
            start, end = max(start, region[0]), min(end, region[1])
        out.append((w, round(start, 3), round(end, 3), p))
    return out


def sentence_segments(windows: list[Window], regions: list[tuple[float, float]], cfg: AsrConfig) -> list[Segment]:
    """Sentence-sized segments of ``windows`` with their guard flags (rules in the module
    docstring and :mod:`reelset.hallucination`); ``regions``: VAD speech [start, end] seconds.
    A window boundary always ends a segment (each segment keeps its window's scores), and so
    do both ends of a repetition loop."""
    out: list[Segment] = []
    for win in windows:
        words = clamp_to_speech(win.words, regions) if cfg.vad else win.words
        loop_of: dict[int, tuple[str, int]] = {}
        loop_edges = set()  # a loop is a segment of its own: the speech around it stays clean
        for s, e, gram, reps in repetition_spans([normalize(w[0]) for w in words], cfg.guards):
            loop_edges |= {s, e}
            for k in range(s, e):
                loop_of[k] = (gram, reps)
        pauses = pause_cuts(words, regions, cfg)
        pieces, cur = [], []
        for k, w in enumerate(words):
            if cur and (k in pauses or k in loop_edges):
                pieces.append(cur)
                cur = []
            cur.append(k)
            if _sentence_end(w[0]):
                pieces.append(cur)
                cur = []
        if cur:
            pieces.append(cur)
        for piece in pieces:
            for part in split_long([(*words[k], k) for k in piece], cfg.max_segment_s):
                text = " ".join(w[0] for w in part)
                loops = list(dict.fromkeys(loop_of[w[4]] for w in part if w[4] in loop_of))
                flags = segment_flags(text, [(w[1], w[2]) for w in part], loops, win.text, win.avg_logprob,
                                      win.no_speech_prob, regions, cfg.guards)
                out.append(Segment(id=len(out), start=part[0][1], end=part[-1][2], text=text,
                                   avg_logprob=round(win.avg_logprob, 4), no_speech_prob=round(win.no_speech_prob, 4),
                                   compression_ratio=round(get_compression_ratio(text), 3),
                                   words=[Word(word=w[0], start=w[1], end=w[2], probability=w[3]) for w in part],
                                   flags=flags))
    return out


def speech_without_words(segments: list[Segment], regions: list[tuple[float, float]], guards: GuardConfig) -> list[tuple[float, float]]:
    """VAD speech ``regions`` ([start, end] s) that no word (±:data:`COVER_PAD_S`) and no flagged
    segment covers, as runs of at least ``guards.uncovered_min_s`` seconds: the speech the model
    did not transcribe. With it every second of VAD speech ends covered by words, inside a
    flagged segment, or in this list (issue 26: nothing is lost silently)."""
    covered = covered_intervals([(w.word, w.start, w.end) for s in segments for w in s.words])
    covered += [(s.start, s.end) for s in segments if s.flags]
    covered = covered_intervals([("", a, b) for a, b in covered], pad=0.0, max_word=None)
    out = []
    for a, b in regions:
        t = a
        for c, d in covered:
            if d <= t or c >= b:
                continue
            if c > t and c - t >= guards.uncovered_min_s:
                out.append((round(t, 3), round(c, 3)))
            t = max(t, d)
        if b - t >= guards.uncovered_min_s:
            out.append((round(t, 3), round(b, 3)))
    return out
