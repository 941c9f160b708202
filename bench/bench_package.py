"""Benchmark of the packaging steps (step3-ltx2-data, step3-wan21-package): wall and CPU seconds
per minute of source, before (another checkout's ``tools/``) and after (this checkout), paired,
and the quality of every packaged clip against the *source* video.

Input: the anamorphic file of ``bench/bench_step1.py`` (25 s, 704x576 SAR 16:11, 25 fps, 6 shots;
``--video demo`` takes the committed 24 s demo instead). step1-scenes runs once (not timed) to
make the clips; a reviewed.json accepts all of them. Default ``[ltx2]`` (24 fps, buckets
960x544x{97,49,25}, audio) and ``[wan21]`` (16 fps, <= 81 frames, 832x480 / 480x832) settings of
each side's own schema, so "before" uses its own defaults (e.g. x264 medium CRF 18).

Each round runs, back to back: ``ffmpeg -i FILE -f null -`` (a full decode, the floor), then for
each packaging step its before and after CLI (fresh interpreters). Reported per step: medians
over ``--repeat`` rounds of wall and CPU seconds (user + system of the process tree: the figure
the machine's load hardly moves), seconds per minute of source, the per-round ratios
after / before and their median, and whether the output bytes were the same in every round.

Quality: every kept clip of each side against the source frames it was made from, with ffmpeg's
``psnr`` (average of Y, U, V) and ``ssim`` (All) filters over all frames. The reference is the
source range (scenes.json start/end frame) taken through the same chain without any encode:
square pixels at the step1 clip size, ``fps`` to the package rate, scale to cover, center crop,
the written frame count. So the numbers include the generational loss of the step1 clip.

Usage: ``.venv/bin/python bench/bench_package.py [--before REV] [--video demo] [--repeat 3]
[--out bench/package.json]``. Record the results in bench/RESULTS.md with the machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools"), str(REPO / "bench")]

from bench_asr import tool_tree  # noqa: E402
from bench_step1 import digest, make_source, timed  # noqa: E402

from conftest import DEMO_VIDEO, scenes_spec  # noqa: E402
from reelset import media  # noqa: E402
from reelset.schemas.scenes import ScenesArtifact  # noqa: E402

STEPS = [("step3-ltx2-data", "step3_ltx2_data.py", "ltx2"), ("step3-wan21-package", "step3_wan_package.py", "wan21")]


def run_tool(tools: Path, script: str, spec: dict, out: Path) -> tuple[float, float, float]:
    """Run ``tools/script`` with ``spec`` into ``out``: (wall s, CPU s, 1-minute load before)."""
    spec_file = out.with_suffix(".spec.json")
    spec_file.write_text(json.dumps(spec))
    return timed([sys.executable, str(tools / script), "--spec", str(spec_file), "--out", str(out)])


def clip_quality(package: Path, scenes: ScenesArtifact, video: Path, work: Path) -> dict:
    """PSNR (dB, mean of Y/U/V) and SSIM (All) of every kept clip of ``package`` (a packaging
    step's output folder) against the source frames of its scene; frame-weighted over all clips."""
    manifest = json.loads((package / "manifest.json").read_text())
    by_id = {s.clip_id: s for s in scenes.scenes}
    psnr_all, ssim_all, rows = [], [], []
    for c in (c for c in manifest["clips"] if c["fate"] == "kept"):
        s = by_id[c["clip_id"]]
        fps, w, h = c["fps"], c["width"], c["height"]
        graph = (f"[1:v]trim=start_frame={s.start_frame}:end_frame={s.end_frame},setpts=PTS-STARTPTS,"
                 f"scale={s.width}:{s.height}:flags=bicubic,setsar=1,fps={fps},"
                 f"scale={w}:{h}:force_original_aspect_ratio=increase:flags=bicubic,crop={w}:{h},setsar=1,"
                 f"trim=start_frame={c.get('start_frame') or 0}:end_frame={(c.get('start_frame') or 0) + c['frames']},"
                 f"setpts=PTS-STARTPTS,split[r1][r2];[0:v]setpts=PTS-STARTPTS,split[c1][c2];"
                 f"[c1][r1]psnr=stats_file={work}/psnr.log;[c2][r2]ssim=stats_file={work}/ssim.log")
        media.run_ffmpeg(["-i", str(package / c["file"]), "-i", str(video), "-lavfi", graph, "-f", "null", "-"],
                         "quality measurement", package / c["file"])
        psnr = [99.0 if v == "inf" else float(v) for v in re.findall(r"psnr_avg:(\S+)", (work / "psnr.log").read_text())]
        ssim = [float(v) for v in re.findall(r"All:(\S+)", (work / "ssim.log").read_text())]
        rows.append({"clip": c.get("item_id", c["clip_id"]), "bucket": c["bucket"], "frames": len(ssim),
                     "psnr_mean": round(statistics.fmean(psnr), 2), "ssim_mean": round(statistics.fmean(ssim), 5),
                     "ssim_min": round(min(ssim), 5)})
        psnr_all += psnr
        ssim_all += ssim
    size = sum((package / c["file"]).stat().st_size for c in manifest["clips"] if c["fate"] == "kept")
    return {"clips": rows, "frames": len(ssim_all), "psnr_mean": round(statistics.fmean(psnr_all), 2),
            "psnr_min": round(min(psnr_all), 2), "ssim_mean": round(statistics.fmean(ssim_all), 5),
            "ssim_min": round(min(ssim_all), 5), "clip_bytes": size}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="HEAD", help="git revision whose tools/ is 'before' (default: HEAD)")
    ap.add_argument("--video", default="pal", help="'pal' (bench_step1's anamorphic file), 'demo', or a path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmpdir:
        tmp = Path(tmpdir)
        video = (make_source(tmp / "pal.mp4") if args.video == "pal" else
                 DEMO_VIDEO if args.video == "demo" else Path(args.video).resolve())
        tools = {"before": tool_tree(args.before, tmp / "before"), "after": REPO / "tools"}
        run_tool(REPO / "tools", "step1_scenes.py", scenes_spec(video, "v"), tmp / "scenes")
        art = ScenesArtifact.model_validate_json((tmp / "scenes" / "scenes.json").read_text())
        accepted = [{"clip_id": s.clip_id, "video_id": "v", "clip_path": str(tmp / "scenes" / s.clip),
                     "caption": f"caption of {s.clip_id}", "caption_source": "model", "frame_count": s.frame_count,
                     "fps": art.analysis_fps, "width": s.width, "height": s.height, "start_s": s.start_s,
                     "end_s": s.end_s, "has_audio": art.source.has_audio} for s in art.scenes]
        (tmp / "reviewed").mkdir()
        (tmp / "reviewed" / "reviewed.json").write_text(json.dumps(
            {"dataset": "bench", "trigger_word": "tw", "accepted": accepted, "rejected": []}))
        minutes = art.source.duration_s / 60
        rounds, hashes = [], {}
        for k in range(args.repeat):
            r = {}
            r["decode_s"], r["decode_cpu"], r["decode_load"] = timed(
                ["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "null", "-"])
            for step, script, section in STEPS:
                spec = {"step": step, "dataset": "bench", "device": "cpu", "config": {section: {}},
                        "inputs": {"step2-reviewed": str(tmp / "reviewed")}}
                for side, where in tools.items():
                    out = tmp / f"{section}-{side}-{k}"
                    r[f"{section}_{side}_s"], r[f"{section}_{side}_cpu"], r[f"{section}_{side}_load"] = run_tool(
                        where, script, spec, out)
                    hashes.setdefault(f"{section}_{side}", set()).add(digest(out))
                r[f"{section}_ratio"] = r[f"{section}_after_s"] / r[f"{section}_before_s"]
                r[f"{section}_cpu_ratio"] = r[f"{section}_after_cpu"] / r[f"{section}_before_cpu"]
            rounds.append(r)
            print(json.dumps({key: round(v, 3) for key, v in r.items()}), file=sys.stderr, flush=True)
        median = {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0] if not key.endswith("_load")}
        per_minute = {key[:-2] + "_s_per_source_minute": round(v / minutes, 2) for key, v in median.items()
                      if key.endswith("_s") and not key.startswith("decode")}
        quality = {}
        for _, _, section in STEPS:
            for side in tools:
                m = json.loads((tmp / f"{section}-{side}-0" / "manifest.json").read_text())
                quality[f"{section}_{side}"] = {"kept": m["kept"], "dropped": m["dropped"],
                                                "frames_written": m["frames_written"],
                                                "crf": m["config"].get("crf"), "preset": m["config"].get("preset", "medium"),
                                                **clip_quality(tmp / f"{section}-{side}-0", art, video, tmp)}
        loads = [r[key] for r in rounds for key in r if key.endswith("_load")]
        results = {
            "video": {"name": video.name, "duration_s": art.source.duration_s, "size": f"{art.source.width}x{art.source.height}",
                      "sar": art.source.sample_aspect_ratio, "clips": len(accepted)},
            "machine": {"cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                                     if ln.startswith("model name")), platform.processor()),
                        "cpus": len(os.sched_getaffinity(0)), "ffmpeg": media.program_version("ffmpeg")},
            "before": args.before, "repeat": args.repeat, "load_1min": [round(min(loads), 2), round(max(loads), 2)],
            "median": median, "per_source_minute": per_minute,
            "same_bytes_every_round": {name: len(h) == 1 for name, h in hashes.items()},
            "quality": quality, "rounds": [{key: round(v, 3) for key, v in r.items()} for r in rounds],
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
