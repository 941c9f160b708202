"""Hallucination guards for Whisper transcripts: rules that flag text the model made up.

Whisper fails in known ways on long inputs, music and silence: it loops (one phrase over
and over), it writes the captions of its YouTube training data ("Thank you for watching",
"Subtitles by the Amara.org community") over non-speech, and it puts words where no one
speaks. Each rule here returns :class:`reelset.schemas.transcript.SegmentFlag` findings for
one sentence segment, thresholds from :class:`reelset.schemas.transcript.GuardConfig`:

- :func:`repetition_spans`: back-to-back repeats of an n-gram (1-8 words) in a decoding
  window's words;
- no-speech probability + average log-probability: Whisper's own silent-window rule
  (openai/whisper ``transcribe.py``: logprob_threshold -1.0, no_speech_threshold 0.6), applied to
  the segment's window (the compression ratio only triggers a second decoding, reelset.asr);
- words outside VAD speech (midpoints outside every Silero VAD region);
- :data:`PHANTOM_PHRASES`: phrases Whisper is known to produce on non-speech (reported in
  openai/whisper discussions #679 and #928 and in Koenecke et al., "Careless Whisper",
  FAccT 2024), matched on the whole normalized segment text.
"""

from __future__ import annotations

import re

from reelset.schemas.transcript import GuardConfig, SegmentFlag

MAX_NGRAM = 24  # a looping sentence repeats 10-20 words (issue 26: "On the shelf … mirror and mark." x6)

# Whole-segment phrases (normalized: lower case, letters/digits/spaces). Whisper writes them
# from the credits and outros of its training videos when it hears music, noise or nothing.
PHANTOM_PHRASES = [re.compile(p) for p in (
    r"(thank you|thanks)( (so|very) much)? for (watching|listening|viewing)( and .*)?",
    r"(please )?(like (and|&) )?subscribe( to .*)?",
    r"(don t forget to|remember to) (like|subscribe).*",
    r"see you (in the next (video|one|episode)|next time)",
    r"(subtitles?|subtitled|captions?|captioned|closed captions?|transcript(ion)?|transcribed|translated|translation|"
    r"english subtitles?) (by|from|provided by) .*",
    r".*\bamara ?org\b.*",
    r".*\b(www|http)\b.*",
    r"(music|applause|laughter|silence|noise|upbeat music|soft music|dramatic music|music playing)",
)]


def normalize(text: str) -> str:
    """Matching form of a text: lower case, runs of anything but letters/digits (any script) → one space."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def repetition_spans(tokens: list[str], cfg: GuardConfig) -> list[tuple[int, int, str, int]]:
    """Loops in ``tokens`` (normalized words of one decoding window): ``(start, end, n-gram,
    repeats)`` with ``tokens[start:end]`` the n-gram repeated ``repeats`` >= ``cfg.repeat_min``
    times back to back and ``end - start >= cfg.repeat_min_words``. Shortest n-gram first at
    each position; spans do not overlap (left to right)."""
    spans, i, n_tok = [], 0, len(tokens)
    while i < n_tok:
        found = None
        for n in range(1, MAX_NGRAM + 1):
            if i + n * cfg.repeat_min > n_tok:
                break
            gram = tokens[i:i + n]
            reps = 1
            while tokens[i + reps * n:i + (reps + 1) * n] == gram:
                reps += 1
            if reps >= cfg.repeat_min and reps * n >= cfg.repeat_min_words:
                found = (i, i + reps * n, " ".join(gram), reps)
                break
        if found:
            spans.append(found)
            i = found[1]
        else:
            i += 1
    return spans


def inside(t: float, regions: list[tuple[float, float]]) -> bool:
    """True when ``t`` (seconds) lies in one of ``regions`` ([start, end] seconds)."""
    return any(start <= t <= end for start, end in regions)


def segment_flags(text: str, words: list[tuple[float, float]], loops: list[tuple[str, int]], window_text: str,
                  avg_logprob: float, no_speech_prob: float, regions: list[tuple[float, float]],
                  cfg: GuardConfig) -> list[SegmentFlag]:
    """Guard findings of one segment: ``text``, its words' (start, end) seconds, the loops
    (n-gram, repeats) its words belong to, the text and scores of its decoding window, and
    the VAD speech ``regions`` (seconds). Order: repetition, no_speech, outside_speech,
    phantom_phrase. The compression ratio is no flag (issue 26: real repeated phrasing compresses
    as well as a loop); it only makes reelset.asr look at the window a second time."""
    flags = []
    for gram, reps in loops:
        flags.append(SegmentFlag(check="repetition", detail=f"{gram!r} repeated {reps} times back to back"))
    if no_speech_prob > cfg.no_speech and avg_logprob < cfg.log_prob:
        flags.append(SegmentFlag(check="no_speech", detail=f"window no-speech probability {no_speech_prob:.2f} > {cfg.no_speech} "
                                                           f"and average log-probability {avg_logprob:.2f} < {cfg.log_prob}"))
    if words:
        outside = sum(not inside((s + e) / 2, regions) for s, e in words)
        if outside / len(words) > cfg.outside_speech:
            flags.append(SegmentFlag(check="outside_speech", detail=f"{outside} of {len(words)} words outside VAD speech"))
    norm = normalize(text)
    if cfg.phantom_phrases and norm and any(p.fullmatch(norm) for p in PHANTOM_PHRASES):
        flags.append(SegmentFlag(check="phantom_phrase", detail=f"{text.strip()!r} is a phrase Whisper makes up on music and silence"))
    return flags
