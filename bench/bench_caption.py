"""Captions per second of step2-caption on this machine (for scale only; not a test).

Builds the demo's inputs and the tiny random Qwen2.5-VL with Nix (host toolchain), then runs
tools/step2_caption.py by hand on the demo's 4 clips for a few batch sizes and writes
bench/caption.json: per batch size the generate wall time, captions/s (clips / generate
seconds), and the whole step's wall time (load + frame sampling + generate).

Usage: .venv/bin/python bench/bench_caption.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import nix_env  # noqa: E402

sys.path.insert(0, str(REPO / "tools"))
from reelset.step import parse_timings  # noqa: E402


def build(attr: str) -> str:
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", attr], cwd=REPO, env=nix_env(True),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)[0]["outputs"]["out"]


def main() -> None:
    caps = Path(build(".#host.step2-caption.shards.demo01"))
    base = {"step": "step2-caption", "dataset": "demo", "device": "cuda", "video_id": "demo01",
            "inputs": {"step1-scenes": build(".#host.step1-scenes.shards.demo01"),
                       "step2-scene-context": build(".#host.step2-scene-context.shards.demo01"),
                       "step2-bible": build(".#host.step2-bible")},
            "models": {"vlm": json.loads((caps / "meta.json").read_text())["models"][0]}}
    runs = []
    for batch in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            spec = {**base, "config": {"caption": {"fps": 2.0, "max_frames": 8, "batch_size": batch}}}
            (Path(tmp) / "spec.json").write_text(json.dumps(spec))
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(REPO / "tools/step2_caption.py"), "--spec", f"{tmp}/spec.json",
                                   "--out", f"{tmp}/out"], check=True, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            meta = json.loads((Path(tmp) / "out/meta.json").read_text())
            timings = parse_timings(proc.stderr)  # the phase times are in the log, not in meta.json
            gen = timings["generate"]
            runs.append({"batch": batch, "clips": meta["counts"]["clips"], "generate_s": gen,
                         "captions_per_s": round(meta["counts"]["clips"] / gen, 2), "step_wall_s": round(wall, 2),
                         "load_s": timings["load"], "sample_s": timings["sample"],
                         "prompt_tokens": meta["counts"]["prompt_tokens"], "new_tokens": meta["counts"]["new_tokens"]})
    result = {"model": "tiny-qwen2.5-vl (tools/make_tiny_models.py)", "device": meta["device"],
              "frames_per_clip": 8, "max_new_tokens": 192, "runs": runs}
    (REPO / "bench/caption.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
