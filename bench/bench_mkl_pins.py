"""Would MKL pinned to AVX2 be a cheaper pin set than oneDNN at AVX2 (issue 37 item 2, cost)?

CTranslate2's wheel links Intel MKL statically and MKL reads ``MKL_CBWR`` (conditional numerical
reproducibility: one code path whatever the CPU) and ``MKL_ENABLE_INSTRUCTIONS`` (the highest ISA
it may dispatch to) — both strings are in ``libctranslate2*.so``. This script transcribes one
medium of tests/speech_media.py with the step's CLI, a fresh process per environment, each
environment = this machine's own environment with the named variables over it, and records the
transcript.json sha256 (first 12 hex), CPU seconds (user + system) and wall seconds:

- ``pinned``: reelset.cpu_kernels.PINNED (oneDNN at AVX2; the set the Nix builds carry);
- ``mkl_cbwr``: the same with ``CT2_USE_MKL=1 MKL_CBWR=AVX2,STRICT MKL_ENABLE_INSTRUCTIONS=AVX2``;
- ``mkl_cbwr_native``: MKL with ``MKL_CBWR=AVX2,STRICT`` only (MKL free to use AVX-512 code paths
  for what CBWR does not cover): the bytes must equal ``mkl_cbwr`` for CBWR to be the pin;
- ``mkl_cbwr_ct2_avx512``: ``mkl_cbwr`` with CTranslate2's own kernels at AVX512 (what an
  AVX-512 CPU would pick if CT2_FORCE_CPU_ISA were left out);
- ``mkl_cbwr_avx2``: ``mkl_cbwr`` without STRICT (``MKL_CBWR=AVX2``);
- ``mkl_avx2_only`` / ``mkl_avx2_only_threads``: MKL capped at AVX2 without CBWR (no
  reproducibility promise from MKL), with MKL's own thread count left alone / at 1;
- ``unpinned``: none of the pins (this CPU's own choice), the cost baseline.

Usage: ``.venv/bin/python bench/bench_mkl_pins.py [--media monologue] [--rounds 1] [--out bench/mkl_pins.json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools"), str(REPO / "bench")]

from bench_asr import timed  # noqa: E402
from bench_asr_variants import MEDIA  # noqa: E402

from conftest import PYTHON, transcript_spec  # noqa: E402
from reelset import cpu_kernels  # noqa: E402
from speech_media import make_speech_video  # noqa: E402

MKL = {"CT2_USE_MKL": "1", "MKL_CBWR": "AVX2,STRICT", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ENVS = {
    "pinned": cpu_kernels.PINNED,
    "mkl_cbwr": {**cpu_kernels.PINNED, **MKL},
    "mkl_cbwr_native": {**cpu_kernels.PINNED, "CT2_USE_MKL": "1", "MKL_CBWR": "AVX2,STRICT"},
    "mkl_cbwr_ct2_avx512": {**cpu_kernels.PINNED, **MKL, "CT2_FORCE_CPU_ISA": "AVX512"},
    "mkl_cbwr_avx2": {**cpu_kernels.PINNED, **MKL, "MKL_CBWR": "AVX2"},
    "mkl_avx2_only": {**cpu_kernels.PINNED, "CT2_USE_MKL": "1", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "mkl_avx2_only_threads": {**cpu_kernels.PINNED, "CT2_USE_MKL": "1", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                              "MKL_NUM_THREADS": "1"},
    "unpinned": {},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", default="monologue", choices=list(MEDIA))
    ap.add_argument("--envs", default=",".join(ENVS))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "mkl_pins.json")
    args = ap.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in cpu_kernels.PINNED and not k.startswith("MKL_")}
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="reelset-bench-mkl-") as tmpdir:
        tmp = Path(tmpdir)
        video = tmp / f"{args.media}.mp4"
        script, pause = MEDIA[args.media]
        make_speech_video(script, video, pause_s=pause)
        spec = tmp / "spec.json"
        spec.write_text(json.dumps(transcript_spec(video, args.media)))
        for k in range(args.rounds):
            for name in args.envs.split(","):
                out = tmp / f"{name}-{k}"
                wall, _, cpu, stderr = timed([PYTHON, str(REPO / "tools" / "step2_transcript_base.py"), "--spec", str(spec),
                                              "--out", str(out)], env={**base, **ENVS[name]})
                versions = json.loads((out / "meta.json").read_text())["versions"]
                row = {"round": k, "cpu_s": cpu, "wall_s": wall, "load_before": round(os.getloadavg()[0], 1),
                       "sha256": hashlib.sha256((out / "transcript.json").read_bytes()).hexdigest()[:12],
                       "ct2": {key: versions.get(f"ctranslate2_{key}") for key in ("isa", "use_mkl", "gemm_s8", "sgemm")},
                       "mkl_warnings": sorted({ln.strip() for ln in stderr.splitlines() if "oneMKL" in ln})}
                rows.setdefault(name, []).append(row)
                print(name, row, flush=True)
    args.out.write_text(json.dumps({"media": args.media, "envs": ENVS, "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
