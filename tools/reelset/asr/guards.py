"""Window-level guards of the ASR: whether a decoded window needs a second look
(:func:`window_failed`: Whisper's own checks, repetition loops, speech without words) and whether
a second decoding of it may replace the first (:func:`better`). Segment-level flags are
:mod:`reelset.hallucination`'s.
"""

from __future__ import annotations

from faster_whisper.transcribe import get_compression_ratio

from reelset.asr.windows import Window
from reelset.hallucination import normalize, repetition_spans
from reelset.schemas.transcript import GuardConfig


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


def failure_kind(why: str) -> str:
    """Short name of a :func:`window_failed` reason, for the log."""
    return next((k for k, mark in (("loop", "repeated"), ("low log-probability", "log-probability"),
                                   ("too little speech covered", "cover"), ("speech without words", "without words"),
                                   ("compression ratio", "compression"))
                 if mark in why), why)
