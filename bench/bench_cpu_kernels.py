"""What pinning the CPU numeric kernels costs (issue 37): step2-transcript-base on the 11-minute
dialogue, unpinned (the kernels this CPU picks) and pinned (reelset.cpu_kernels.PINNED, as every Nix
build of the ASR steps runs), paired: the two back to back in each round, alternating which goes
first, in fresh processes under ``/usr/bin/time -v``.

Per round: wall and CPU seconds (user + system) of each, the ratio pinned / unpinned, the load
average before the round, and the transcript's sha256 (the same within a setting across rounds;
bench/bench_asr_variants.py ``--pinned`` gives the bytes under every dispatch emulated here).
The 11-minute dialogue is bench/bench_asr.py's ``episode``: 170 sentences, four espeak-ng voices,
0.4 s pauses (tests/speech_media.py), tiny.en int8, batch 8, 4 threads.

Usage: ``.venv/bin/python bench/bench_cpu_kernels.py [--rounds 3] [--out bench/cpu_kernels.json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools"), str(REPO / "bench")]

from bench_asr import timed  # noqa: E402

from conftest import PYTHON, transcript_spec  # noqa: E402
from reelset import cpu_kernels  # noqa: E402
from speech_media import dialogue_script, make_speech_video  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=170, help="dialogue length (170: ~11 min)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "cpu_kernels.json")
    ap.add_argument("--as-avx2-cpu", action="store_true", help="the unpinned side as a CPU without AVX-512 runs it "
                    "(CTranslate2, oneDNN and numpy at AVX2 by themselves): the cost of pinning on such a CPU")
    args = ap.parse_args()
    unpinned_env = {k: v for k, v in os.environ.items() if k not in cpu_kernels.PINNED}
    if args.as_avx2_cpu:
        unpinned_env.update({k: cpu_kernels.PINNED[k] for k in ("CT2_FORCE_CPU_ISA", "ONEDNN_MAX_CPU_ISA",
                                                                  "NPY_DISABLE_CPU_FEATURES")})
    envs = {"unpinned": unpinned_env, "pinned": cpu_kernels.pinned_env(unpinned_env)}
    rounds = []
    with tempfile.TemporaryDirectory(prefix="reelset-bench-kernels-") as tmp_s:
        tmp = Path(tmp_s)
        video = tmp / "episode.mp4"
        lines = make_speech_video(dialogue_script(args.sentences), video, pause_s=0.4)
        spec = tmp / "episode.spec.json"
        spec.write_text(json.dumps(transcript_spec(video, "episode")))
        for k in range(args.rounds):
            load = os.getloadavg()[0]
            row: dict = {"load": round(load, 2)}
            for name in (["unpinned", "pinned"] if k % 2 == 0 else ["pinned", "unpinned"]):
                out = tmp / f"out-{name}-{k}"
                os.environ.clear()
                os.environ.update(envs[name])
                t0 = time.perf_counter()
                wall, rss, cpu, _ = timed([PYTHON, str(REPO / "tools" / "step2_transcript_base.py"), "--spec", str(spec),
                                           "--out", str(out)])
                row[name] = {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss,
                             "sha256": hashlib.sha256((out / "transcript.json").read_bytes()).hexdigest()}
                print(f"round {k} {name:9s} wall {wall:7.2f} s  CPU {cpu:7.2f} s  {row[name]['sha256'][:12]}  "
                      f"(load {load:.1f}, {time.perf_counter() - t0:.0f} s)", flush=True)
            row["ratio_wall"] = round(row["pinned"]["wall_s"] / row["unpinned"]["wall_s"], 3)
            row["ratio_cpu"] = round(row["pinned"]["cpu_s"] / row["unpinned"]["cpu_s"], 3)
            rounds.append(row)
    result = {"date": time.strftime("%Y-%m-%d"), "as_avx2_cpu": args.as_avx2_cpu, "audio_s": round(lines[-1].end_s + 1.0, 1), "pinned": cpu_kernels.PINNED,
              "rounds": rounds, "median_ratio_wall": statistics.median(r["ratio_wall"] for r in rounds),
              "median_ratio_cpu": statistics.median(r["ratio_cpu"] for r in rounds)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"pinned / unpinned, median of {len(rounds)} rounds: wall {result['median_ratio_wall']}, "
          f"CPU {result['median_ratio_cpu']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
