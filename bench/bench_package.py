"""Benchmark of the packaging steps (step3-ltx2-data, step3-wan21-package) on a video
(default: the demo): wall seconds per minute of source video, default [ltx2]/[wan21]
settings, every clip accepted.

Runs step1-scenes once (not timed) to get the clips, writes a reviewed.json accepting all of
them (model captions), then times each packaging tool's CLI (best of ``--repeat``), and
``ffmpeg -i VIDEO -f null -`` (a full decode) as the baseline. The packaging steps'
meta.json holds no timings (deterministic output), so the wall time is measured here.

Usage: ``.venv/bin/python bench/bench_package.py [--video V] [--repeat N] [--out bench/package.json]``.
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

from conftest import DEMO_VIDEO, scenes_spec  # noqa: E402
from reelset.schemas.scenes import ScenesArtifact  # noqa: E402


def cli(script: str, spec: dict, out: Path) -> float:
    """Run a tool's CLI into ``out``; wall seconds (exits with the tool's stderr on failure)."""
    spec_file = out.with_suffix(".spec.json")
    spec_file.write_text(json.dumps(spec))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "tools" / script), "--spec", str(spec_file), "--out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{script} failed:\n{proc.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, default=DEMO_VIDEO)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cli("step1_scenes.py", scenes_spec(args.video.resolve(), "v"), tmp / "scenes")
        art = ScenesArtifact.model_validate_json((tmp / "scenes" / "scenes.json").read_text())
        accepted = [{"clip_id": s.clip_id, "video_id": "v", "clip_path": str(tmp / "scenes" / s.clip),
                     "caption": f"caption of {s.clip_id}", "caption_source": "model", "frame_count": s.frame_count,
                     "fps": art.analysis_fps, "width": s.width, "height": s.height, "start_s": s.start_s,
                     "end_s": s.end_s, "has_audio": art.source.has_audio} for s in art.scenes]
        (tmp / "reviewed").mkdir()
        (tmp / "reviewed" / "reviewed.json").write_text(json.dumps(
            {"dataset": "bench", "trigger_word": "tw", "accepted": accepted, "rejected": []}))
        minutes = art.source.duration_s / 60
        t0 = time.perf_counter()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(args.video), "-f", "null", "-"], check=True)
        decode = time.perf_counter() - t0
        result = {"video": args.video.name, "duration_s": art.source.duration_s, "clips": len(accepted),
                  "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "decode_s": round(decode, 3)}
        for step, script, section in [("step3-ltx2-data", "step3_ltx2_data.py", "ltx2"),
                                      ("step3-wan21-package", "step3_wan21_package.py", "wan21")]:
            times = []
            for i in range(args.repeat):
                spec = {"step": step, "dataset": "bench", "device": "cpu", "config": {section: {}},
                        "inputs": {"step2-reviewed": str(tmp / "reviewed")}}
                times.append(cli(script, spec, tmp / f"{section}-{i}"))
            manifest = json.loads((tmp / f"{section}-0" / "manifest.json").read_text())
            result[step] = {"best_s": round(min(times), 3), "s_per_source_minute": round(min(times) / minutes, 2),
                            "kept": manifest["kept"], "dropped": manifest["dropped"],
                            "frames_written": manifest["frames_written"], "config": manifest["config"]}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
