"""step2-transcript-base on lists of sentences read by other voices (issue 37 item 4): sentences
recovered, loops left, and what the second look costs against the first pass, before (a git
revision's tools) → after (this checkout's).

Inputs, made here with tests/speech_media.py: ``OTHER_VOICE_LISTS`` (sentences of the dialogue
script read without pauses by one espeak-ng voice each, another pitch and speed than the test
media's, ~135 s), and the 40-sentence monologue and the 40-item list of the long-form tests as
controls (``--only episode``: the 11-minute dialogue). Each run is the tool's CLI in a fresh process under the pinned CPU kernels
(reelset.cpu_kernels.PINNED, what a Nix build runs) and ``/usr/bin/time -v``; before and after
back to back per input. Recorded per run: sentences recovered in unflagged segments (WER <= 0.5 of
the words in the sentence's span, bench/bench_asr.py ``score``), flagged segments, loops left,
wall and CPU seconds, the step's phases (its timings line: ``first_pass`` — for a revision
without that phase, ``asr - vad_regions - redecode`` — and ``redecode``, the second look with the
loop repair) and transcript.json's sha256 (first 12 hex).

Usage: ``.venv/bin/python bench/bench_asr_voices.py [--before main] [--out bench/asr_voices.json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools"), str(REPO / "bench")]

from bench_asr import score, timed, tool_tree  # noqa: E402

from conftest import PYTHON, transcript_spec  # noqa: E402
from reelset import cpu_kernels  # noqa: E402
from reelset.log import parse_timings  # noqa: E402
from speech_media import OTHER_VOICE_LISTS, VOICES, dialogue_script, list_script, make_speech_video  # noqa: E402


def inputs() -> dict[str, tuple[list, float, int]]:
    """name → (script lines, pause between lines s, espeak-ng words/min): the other voices' lists and
    the controls (``episode``, the 11-minute dialogue of bench_asr.py / bench_cpu_kernels.py, only
    with ``--only episode``)."""
    out = {name: (dialogue_script(n, [voice]), 0.0, speed) for name, (voice, n, speed) in OTHER_VOICE_LISTS.items()}
    out["monologue"] = (dialogue_script(40, VOICES[:1]), 0.0, 150)
    out["list"] = (list_script(40), 0.0, 150)
    out["episode"] = (dialogue_script(170), 0.4, 150)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="main", help="git revision of the 'before' tools (default: main)")
    parser.add_argument("--only", nargs="*", help="inputs to run (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "asr_voices.json")
    args = parser.parse_args()
    results: dict = {"before": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.before],
                                              capture_output=True, text=True, check=True).stdout.strip()}
    env = cpu_kernels.pinned_env()
    with tempfile.TemporaryDirectory(prefix="reelset-bench-voices-") as tmpdir:
        tmp = Path(tmpdir)
        tools = {"before": tool_tree(args.before, tmp / "before"), "after": REPO / "tools"}
        for name, (script, pause, speed) in inputs().items():
            if (name not in args.only) if args.only else name == "episode":
                continue
            video = tmp / f"{name}.mp4"
            lines = make_speech_video(script, video, pause_s=pause, speed=speed)
            spec = tmp / f"{name}.spec.json"
            spec.write_text(json.dumps(transcript_spec(video, name)))
            row = {"audio_s": round(lines[-1].end_s + 1.0, 1)}
            for label, tree in tools.items():
                out = tmp / f"{name}-{label}"
                wall, _, cpu, stderr = timed([PYTHON, str(tree / "step2_transcript_base.py"), "--spec", str(spec),
                                              "--out", str(out)], env=env)
                ph = parse_timings(stderr) or {}
                first = ph.get("first_pass", ph.get("asr", 0.0) - ph.get("vad_regions", 0.0) - ph.get("redecode", 0.0))
                data = (out / "transcript.json").read_bytes()
                row[label] = {"wall_s": wall, "cpu_s": cpu, "load_before": round(os.getloadavg()[0], 1),
                              "first_pass_s": round(first, 2), "redecode_s": ph.get("redecode", 0.0),
                              "redecode_over_first_pass": round(ph.get("redecode", 0.0) / first, 3) if first else None,
                              "sha256": hashlib.sha256(data).hexdigest()[:12], **score(json.loads(data), lines),
                              "log": [ln for ln in stderr.splitlines() if "repeated" in ln or "loop" in ln][:8]}
                print(name, label, {k: v for k, v in row[label].items() if k != "log"}, flush=True)
            results[name] = row
    results["machine"] = {"cores": len(os.sched_getaffinity(0)), "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3]}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
