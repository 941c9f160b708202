"""The audio's geometry for ASR: Silero VAD speech regions, the windows of up to 30 s of speech
the batched pipeline decodes (:class:`Window`), the shorter pieces a window is decoded again in
(:func:`sub_windows`), cut at the quietest 20 ms frame (:func:`quietest`), and the ~10-minute
blocks a long file is transcribed in (:func:`block_bounds`). No model here (reelset.asr.whisper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from reelset.schemas.transcript import AsrConfig

SAMPLE_RATE = 16000
WINDOW_S = 30  # Whisper's input window, seconds


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


def seconds(timestamps: list[dict]) -> list[tuple[float, float]]:
    """VAD regions in samples → [start, end] seconds (ms precision)."""
    return [(round(r["start"] / SAMPLE_RATE, 3), round(r["end"] / SAMPLE_RATE, 3)) for r in timestamps]


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


def merge_windows(pieces: list[Window], spans: list[tuple[float, float]], why: str) -> Window:
    """One Window of the ``pieces`` decoded from a window's speech ``spans``: words in time
    order, scores weighted by word count."""
    words = sorted((w for p in pieces for w in p.words), key=lambda w: w[1])
    weight = [max(1, len(p.words)) for p in pieces]
    return Window(text=" ".join(p.text for p in pieces if p.text),
                  avg_logprob=float(np.average([p.avg_logprob for p in pieces], weights=weight)) if pieces else 0.0,
                  no_speech_prob=float(np.average([p.no_speech_prob for p in pieces], weights=weight)) if pieces else 1.0,
                  words=words, spans=spans, redecoded=why)
