"""Scoring a transcript against the spoken script of tests/speech_media.py (tests and bench).

A sentence is scored on the transcript words whose midpoints lie in its time span (± 0.3 s):
- ``sentence_wer``: jiwer WER of those words against the sentence ("nothing" when none);
- ``word_ratio``: words heard / words said — a lost, truncated or merged sentence shows here;
- ``deleted_share``: the share of the sentence's words that the alignment deletes (said, no
  word heard in its place) — a mis-heard word is a substitution, not a deletion.
So a sentence that is *mis-heard* (names heard as other words: a substitution per word, which
depends on the machine's int8 kernels, see bench/bench_asr_variants.py) is told apart from one
that is *lost* (no words, half the words, a loop in its place).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jiwer

from speech_media import Line


def norm(text: str) -> str:
    """Lower case, letters and apostrophes only, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


def heard_in(transcript, line: Line, margin: float = 0.3) -> str:
    """The transcript words whose midpoint lies in the line's time span (± ``margin`` seconds)."""
    return " ".join(w.word for s in transcript.segments for w in s.words
                    if line.start_s - margin <= (w.start + w.end) / 2 <= line.end_s + margin)


@dataclass
class Scores:
    """Per-sentence scores of one transcript (lists in script order) and the whole-text WER."""

    wer: float
    heard: list[str]
    sentence_wer: list[float]
    word_ratio: list[float]
    deleted_share: list[float]


def sentence_scores(transcript, lines: list[Line]) -> Scores:
    """Score ``transcript`` (a TranscriptArtifact) against ``lines`` (with their times)."""
    reference = norm(" ".join(line.text for line in lines))
    hypothesis = norm(" ".join(s.text for s in transcript.segments)) or "nothing"
    heard = [heard_in(transcript, line) for line in lines]
    sw, ratio, deleted = [], [], []
    for line, said in zip(lines, heard, strict=True):
        ref, hyp = norm(line.text), norm(said)
        out = jiwer.process_words(ref, hyp or "nothing")
        sw.append(out.wer)
        ratio.append(len(hyp.split()) / len(ref.split()))
        deleted.append(out.deletions / len(ref.split()) if hyp else 1.0)
    return Scores(wer=jiwer.wer(reference, hypothesis), heard=heard, sentence_wer=sw, word_ratio=ratio,
                  deleted_share=deleted)
