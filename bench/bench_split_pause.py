"""Where segments end: ``[asr] split_pause_s`` measured on the espeak-ng dialogue of the tests (issue 37).

Whisper often writes no full stop between two lines; a segment that ends only at punctuation
then runs over several lines (issue 37: 11.7 s over four lines on an AMD CPU). This script makes
the tests' two dialogue files (tests/speech_media.py: 54 sentences, four voices, 0.8 s pauses
between lines and none), decodes each once with tiny.en through the step's own code
(:func:`reelset.asr.decode.transcribe_blocks`, the CPU's native kernels), and then segments the same
words with and without their punctuation:

- the gaps between consecutive words of one window, split into gaps inside a line (both words'
  midpoints in one spoken line: one speaker's pauses) and gaps between lines; the gaps between
  VAD regions and the silences they stand for (:func:`reelset.asr.segments.vad_silences`);
- per ``split_pause_s`` candidate: segments, the longest segment (s), the most lines one segment
  holds, the share of one-line segments, and how many lines are cut into two or more segments;
- the "before" row: the segmenter of another checkout's ``tools/`` (``--baseline-tools``, its
  defaults) over the same words, in its own process.

Usage: ``.venv/bin/python bench/bench_split_pause.py [--baseline-tools /work/main/tools] [--out bench/split_pause.json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools")]

from conftest import PYTHON, TINY_EN  # noqa: E402
from reelset import media  # noqa: E402
from reelset.asr import decode as asr_decode  # noqa: E402
from reelset.asr import segments as asr_segments  # noqa: E402
from reelset.asr import whisper as asr_whisper  # noqa: E402
from reelset.asr import windows as asr_windows  # noqa: E402
from reelset.device import DevicePolicy  # noqa: E402
from reelset.schemas.transcript import AsrConfig  # noqa: E402
from speech_media import Line, dialogue_script, make_speech_video  # noqa: E402

MEDIA = {"dialogue_pauses": 0.8, "dialogue_no_pauses": 0.0}
CANDIDATES = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0]
PUNCTUATION = re.compile(r"[^\w'’-]+")

# the segmenter of another checkout, over windows given as JSON: prints [[start, end, [word mids]], …]
BASELINE = """
import json, sys
sys.path.insert(0, sys.argv[1])
try:  # issue 40: reelset.asr is a package
    from reelset.asr import segments as asr_segments, windows as asr_windows
except ImportError:  # a checkout before it: one module
    from reelset import asr
    asr_segments = asr_windows = asr
from reelset.schemas.transcript import AsrConfig
data = json.load(open(sys.argv[2]))
wins = [asr_windows.Window(text=w["text"], avg_logprob=w["avg_logprob"], no_speech_prob=w["no_speech_prob"],
                   words=[tuple(x) for x in w["words"]], spans=[tuple(x) for x in w["spans"]]) for w in data["windows"]]
segs = asr_segments.sentence_segments(wins, [tuple(r) for r in data["regions"]], AsrConfig())
print(json.dumps([[s.start, s.end, [(w.start + w.end) / 2 for w in s.words]] for s in segs]))
"""


def strip(win: asr_windows.Window) -> asr_windows.Window:
    """``win`` with its punctuation removed, as Whisper writes a line without a full stop."""
    words = [(PUNCTUATION.sub("", w), a, b, p) for w, a, b, p in win.words]
    words = [w for w in words if w[0]]
    return asr_windows.Window(text=" ".join(w[0] for w in words), avg_logprob=win.avg_logprob,
                      no_speech_prob=win.no_speech_prob, words=words, spans=win.spans)


def line_of(lines: list[Line], t: float) -> int:
    """The line being spoken (or just spoken) at ``t`` seconds (as tests/test_asr_long.py counts)."""
    return max((i for i, ln in enumerate(lines) if ln.start_s <= t), default=0)


def score(segments: list[tuple[float, float, list[float]]], lines: list[Line]) -> dict:
    """Segments as (start, end, word midpoints) against the spoken lines."""
    spans = [len({line_of(lines, m) for m in mids}) for _, _, mids in segments]
    pieces: dict[int, int] = {}
    for _, _, mids in segments:
        for i in {line_of(lines, m) for m in mids}:
            pieces[i] = pieces.get(i, 0) + 1
    return {"segments": len(segments), "longest_s": round(max(e - s for s, e, _ in segments), 2),
            "most_lines": max(spans), "one_line_share": round(sum(n == 1 for n in spans) / len(spans), 3),
            "lines_cut": sum(n > 1 for n in pieces.values())}


def ours(windows: list[asr_windows.Window], regions, lines: list[Line], **cfg) -> dict:
    segs = asr_segments.sentence_segments(windows, regions, AsrConfig(**cfg))
    return score([(s.start, s.end, [(w.start + w.end) / 2 for w in s.words]) for s in segs], lines)


def gaps(windows: list[asr_windows.Window], regions, lines: list[Line]) -> dict:
    """Word gaps inside a line and between lines (s), and the VAD silences between lines."""
    inside, between = [], []
    for win in windows:
        words = asr_segments.clamp_to_speech(win.words, regions)
        for a, b in zip(words, words[1:], strict=False):
            same = line_of(lines, (a[1] + a[2]) / 2) == line_of(lines, (b[1] + b[2]) / 2)
            (inside if same else between).append(float(b[1] - a[2]))
    region_gaps = [float(a2 - b) for (_, b), (a2, _) in zip(regions, regions[1:], strict=False)]
    silences = [float(n) for _, n in asr_segments.vad_silences(regions, AsrConfig())]

    def q(x: list[float]) -> dict:
        if not x:
            return {"n": 0}
        v = np.array(x)
        return {"n": len(x), "min": round(float(v.min()), 3), "p05": round(float(np.quantile(v, 0.05)), 3),
                "median": round(float(np.median(v)), 3), "p95": round(float(np.quantile(v, 0.95)), 3),
                "p99": round(float(np.quantile(v, 0.99)), 3), "max": round(float(v.max()), 3)}
    return {"inside_line": q(inside), "between_lines": q(between), "vad_region_gaps": q(region_gaps),
            "vad_silences": q(silences),
            "between_lines_under": {str(c): int(sum(g < c for g in between)) for c in CANDIDATES}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-tools", type=Path, help="another checkout's tools/ folder: its segmenter is the 'before' row")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "split_pause.json")
    args = ap.parse_args()
    cfg = AsrConfig()
    model, device, _ = asr_whisper.load_whisper(TINY_EN, cfg, DevicePolicy())
    result: dict = {"model": "tiny.en", "device": device, "default_split_pause_s": cfg.split_pause_s, "media": {}}
    with tempfile.TemporaryDirectory(prefix="reelset-split-") as tmp:
        for name, pause in MEDIA.items():
            video = Path(tmp) / f"{name}.mp4"
            lines = make_speech_video(dialogue_script(54), video, pause_s=pause)
            pcm = media.decode_audio_16k(video, pcm16=True)
            t0 = time.perf_counter()
            windows, timestamps, _, _ = asr_decode.transcribe_blocks(model, pcm, cfg, asr_whisper.default_batch_size(cfg, device), name)
            decode_s = time.perf_counter() - t0
            regions = [(float(a), float(b)) for a, b in asr_windows.seconds(timestamps)]
            bare = [strip(w) for w in windows]
            row: dict = {"pause_s": pause, "seconds": round(lines[-1].end_s, 1), "lines": len(lines),
                         "decode_s": round(decode_s, 1), "gaps": gaps(windows, regions, lines), "candidates": {}}
            t0 = time.perf_counter()
            row["default"] = {"punctuated": ours(windows, regions, lines), "stripped": ours(bare, regions, lines)}
            row["segment_s"] = round(time.perf_counter() - t0, 3)
            for c in CANDIDATES:
                row["candidates"][str(c)] = {"punctuated": ours(windows, regions, lines, split_pause_s=c),
                                             "stripped": ours(bare, regions, lines, split_pause_s=c)}
            # the pause rule off (only punctuation and max_segment_s cut): what the words alone give
            row["no_pause_rule"] = {"stripped": ours(bare, regions, lines, split_pause_s=1000.0)}
            if args.baseline_tools:
                row["before"] = {}
                for kind, wins in (("punctuated", windows), ("stripped", bare)):
                    data = Path(tmp) / f"{name}-{kind}.json"
                    data.write_text(json.dumps({"regions": regions, "windows": [
                        {"text": w.text, "avg_logprob": w.avg_logprob, "no_speech_prob": w.no_speech_prob,
                         "words": w.words, "spans": w.spans} for w in wins]}))
                    proc = subprocess.run([PYTHON, "-c", BASELINE, str(args.baseline_tools.resolve()), str(data)],
                                          capture_output=True, text=True, check=True)
                    row["before"][kind] = score(json.loads(proc.stdout), lines)
            result["media"][name] = row
            print(json.dumps({name: {k: v for k, v in row.items() if k != "candidates"}}, indent=1), flush=True)
            for c, r in row["candidates"].items():
                print(f"  split_pause_s {c}: punctuated {r['punctuated']}  stripped {r['stripped']}", flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
