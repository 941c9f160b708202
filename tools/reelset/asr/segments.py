"""The ASR windows' words cut into sentence segments (:func:`sentence_segments`: after . ? !, at
pauses >= ``[asr] split_pause_s`` between words or in the VAD's speech regions, long ones at their
longest pause), each checked by the hallucination guards (:mod:`reelset.hallucination`), and the
VAD speech no word covers (:func:`speech_without_words`).
"""

from __future__ import annotations

import bisect
import re

from faster_whisper.transcribe import get_compression_ratio

from reelset.asr.guards import covered_intervals
from reelset.asr.windows import Window, vad_options
from reelset.hallucination import normalize, repetition_spans, segment_flags
from reelset.schemas.transcript import AsrConfig, GuardConfig, Segment, Word

# sentence ends: . ? ! … (also CJK), optionally followed by closing quotes/brackets
SENTENCE_END = re.compile(r"[.?!…。？！]+[\"'”’)\]]*$")
CLAUSE_END = re.compile(r"[,;:，、]+[\"'”’)\]]*$")
# "Mr." etc. do not end a sentence
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "mt", "no", "lt", "sgt", "capt", "gen", "col"}


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
