"""Benchmark of latents and LoRA training (step4-*-preprocess, step5-*-train segments) with
the tiny random-config models on this machine's CPU: wall seconds of preprocessing and
optimizer steps per second (it/s). Scale only: the tiny models say nothing about a real GPU.

Builds the tiny models (tools/make_tiny_models.py), packages the demo video's clips with
small buckets (as tests/test_train.py does), runs step4_preprocess.py, then one segment of
``--steps`` steps per family; reads it/s from segment.json (the training loop only, model
loading excluded) and the wall time of each CLI.

Usage: ``.venv/bin/python bench/bench_train.py [--steps 30] [--out bench/train.json]``.
Record the printed JSON in bench/RESULTS.md with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench"))

from bench_package import cli  # noqa: E402

from conftest import DEMO_VIDEO, TINY_DIFFUSION, scenes_spec  # noqa: E402
from test_package import reviewed_from_scenes  # noqa: E402
from test_train import PACKAGES, preprocess_spec, segment_spec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "steps": args.steps, "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cli("step1_scenes.py", scenes_spec(DEMO_VIDEO, "demo01"), tmp / "scenes")
        (tmp / "reviewed").mkdir()
        (tmp / "reviewed" / "reviewed.json").write_text(json.dumps(reviewed_from_scenes([tmp / "scenes"])))
        for family, (name, kind) in TINY_DIFFUSION.items():
            model = tmp / name
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(REPO / "tools" / "make_tiny_models.py"), kind, "--out", str(model)],
                           check=True, capture_output=True)
            make_s = time.perf_counter() - t0
            step, script, section, cfg = PACKAGES[family]
            cli(script, {"step": step, "dataset": "b", "device": "cpu", "config": {section: cfg},
                         "inputs": {"step2-reviewed": str(tmp / "reviewed")}}, tmp / f"pkg-{family}")
            pre_s = cli("step4_preprocess.py", preprocess_spec(family, tmp / f"pkg-{family}", model), tmp / f"lat-{family}")
            index = json.loads((tmp / f"lat-{family}" / "latents.json").read_text())
            seg_s = cli("step5_train_segment.py", segment_spec(family, tmp / f"lat-{family}", model, 0, 0, args.steps),
                        tmp / f"seg-{family}")
            seg = json.loads((tmp / f"seg-{family}" / "segment.json").read_text())
            result["families"][family] = {
                "tiny_model_build_s": round(make_s, 2), "clips": len(index["clips"]),
                "latent_shapes": sorted({str(c["shapes"]["latents/latents"]) for c in index["clips"]}),
                "preprocess_wall_s": round(pre_s, 2), "segment_wall_s": round(seg_s, 2),
                "segment_it_per_s_incl_load": round(args.steps / seg_s, 2), "trainable_parameters": seg["trainable_parameters"],
                "loss_first": seg["losses"][0]["loss"], "loss_last": seg["losses"][-1]["loss"]}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
