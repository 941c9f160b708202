"""Benchmark of step1-scenes against the PySceneDetect CLI on a reproducible anamorphic file.

The file (made here with ffmpeg lavfi, same bytes every time for one ffmpeg build): 25 s,
704x576 SAR 16:11 (PAL 16:9), 25 fps, 6 shots of 75/130/110/90/120/100 frames (testsrc2,
smptehdbars, mandelbrot, rgbtestsrc, colour + moving text, cellauto), a yellow frame counter on
every frame, pink-noise AAC audio, H.264 with one keyframe per 250 frames (cuts fall mid-GOP), encoded on one
thread (libx264 on 2 threads gave different bytes from run to run for this graph).

Each round runs, back to back (paired), and records the 1-minute load average before each:
- ``ffmpeg -i FILE -f null -`` (a full decode: the floor);
- the step1-scenes tool's CLI (probe + detection + all clips + thumbnails), its meta.json
  ``detect`` and ``clips`` phases; optionally (``--baseline-tools DIR``) the same tool from
  another checkout's ``tools/`` (e.g. ``/work/main/tools`` before a change);
- ``scenedetect -i FILE -o DIR detect-content split-video save-images -n 1`` (PySceneDetect's own
  detection + ffmpeg split + one image per scene; it keeps 704x576 SAR 16:11, x264 veryfast CRF 22).
Reported: medians over ``--repeat`` rounds of wall and CPU seconds (user + system, which the load
hardly changes), the medians of the per-round ratios tool / scenedetect, and whether the tool's
output bytes were the same in every round.

Quality of every step1 clip against its source frames (ffmpeg's ``psnr`` and ``ssim`` filters,
all frames; the reference is the source range scaled to the clip size the way the tool scales,
so the numbers measure the encode, not the square-pixel scaling): per clip mean and min, and the
frame-weighted mean over the video. Frame counts are checked (ffprobe) against scenes.json.

Usage: ``.venv/bin/python bench/bench_step1.py [--repeat 3] [--baseline-tools /work/main/tools]
[--clip-crf N] [--clip-preset P] [--out bench/step1.json]``. Record results in bench/RESULTS.md with the machine and load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from reelset import media  # noqa: E402
from reelset.log import parse_timings  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
SHOTS = [75, 130, 110, 90, 120, 100]
W, H, FPS, SAR = 704, 576, 25, "16/11"


def shot_source(i: int, n: int) -> str:
    """lavfi graph of shot ``i`` (``n`` frames at W x H, FPS), a different generator per shot."""
    d = f"{n / FPS:.6f}"
    s = f"s={W}x{H}:r={FPS}:d={d}"
    hue = (i * 47) % 360
    graphs = [f"testsrc2={s},hue=h={hue}",
              f"smptehdbars={s},hue=h={hue}",
              f"mandelbrot=s={W}x{H}:r={FPS}:start_scale={2 + i % 5},trim=duration={d}",
              f"rgbtestsrc={s},hue=h={hue}",
              f"color=c=0x{(i * 2654435761) & 0xFFFFFF:06x}:{s},drawtext=fontfile={FONT}:text='SHOT {i}'"
              f":fontsize=80:fontcolor=white:x=(w-tw)/2+40*sin(t*3):y=(h-th)/2",
              f"cellauto=s={W}x{H}:r={FPS}:rule={[18, 30, 90, 110, 150][i % 5]}:random_seed={i}:scroll=1,trim=duration={d}"]
    return graphs[i % 6] + f",format=yuv420p,setsar=1,trim=end_frame={n},setpts=N/({FPS}*TB)"


def make_source(out: Path) -> Path:
    """Write the benchmark file to ``out`` (see the module docstring)."""
    if not Path(FONT).exists():
        raise SystemExit(f"{FONT} is missing (Debian: apt-get install fonts-dejavu-core)")
    parts = [f"{shot_source(i, n)}[v{i}]" for i, n in enumerate(SHOTS)]
    cat = "".join(f"[v{i}]" for i in range(len(SHOTS)))
    graph = (";".join(parts) + f";{cat}concat=n={len(SHOTS)}:v=1:a=0,drawtext=fontfile={FONT}:text='%{{n}}'"
             f":fontsize=40:fontcolor=yellow:box=1:boxcolor=black:x=10:y=10,setsar={SAR}[v]")
    script = out.with_suffix(".graph")
    script.write_text(graph)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex_script", str(script),
                    "-f", "lavfi", "-i", f"anoisesrc=c=pink:seed=15:a=0.2:r=48000:d={sum(SHOTS) / FPS:.6f}",
                    "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                    "-g", "250", "-keyint_min", "250", "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-threads", "1",
                    "-r", str(FPS), "-c:a", "aac", "-b:a", "128k", "-shortest", *media.BITEXACT, str(out)], check=True)
    return out


def timed(cmd: list[str], **kw) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds (user + system of the process and its children), 1-minute load
    average just before) of running ``cmd`` (check=True). CPU seconds hardly change with the
    machine's load; wall seconds do."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, load


def digest(folder: Path) -> str:
    """sha256 over the names and bytes of every file below ``folder`` (sorted)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "meta.json":  # meta.json is provenance, not the output
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def step1(tools: Path, video: Path, out: Path, scenes: dict) -> tuple[float, float, float, dict]:
    """Run ``tools/step1_scenes.py`` (fresh interpreter) on ``video`` into ``out`` with ``[scenes]``
    settings ``scenes``: (wall s, CPU s, load, meta timings)."""
    spec = out.parent / f"{out.name}.spec.json"
    spec.write_text(json.dumps({"step": "step1-scenes", "dataset": "bench", "device": "cpu", "video_id": "pal",
                                "video": str(video), "config": {"scenes": scenes}}))
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, str(tools / "step1_scenes.py"), "--spec", str(spec), "--out", str(out)],
                          check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the phase times are in the tool's log (stderr); tools before issue 19 kept them in meta.json
    phases = parse_timings(proc.stderr) or json.loads((out / "meta.json").read_text()).get("timings_s") or {}
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, load, phases


def scenedetect(video: Path, out: Path) -> tuple[float, float, float]:
    shutil.rmtree(out, ignore_errors=True)
    exe = shutil.which("scenedetect", path=str(Path(sys.executable).parent)) or "scenedetect"
    return timed([exe, "-i", str(video), "-o", str(out), "detect-content", "split-video", "save-images", "-n", "1"])


def quality(out: Path, video: Path, work: Path) -> dict:
    """PSNR (average of Y/U/V, dB) and SSIM (All) of every clip of step1 output ``out`` vs its
    source frames; frame counts checked against scenes.json."""
    art = json.loads((out / "scenes.json").read_text())
    rows, psnr_all, ssim_all = [], [], []
    for s in art["scenes"]:
        clip = out / s["clip"]
        graph = (f"[1:v]trim=start_frame={s['start_frame']}:end_frame={s['end_frame']},setpts=PTS-STARTPTS,"
                 f"scale={s['width']}:{s['height']},setsar=1,split[r1][r2];[0:v]setpts=PTS-STARTPTS,split[c1][c2];"
                 f"[c1][r1]psnr=stats_file={work}/psnr.log;[c2][r2]ssim=stats_file={work}/ssim.log")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-i", str(video), "-lavfi", graph,
                        "-f", "null", "-"], check=True)
        psnr = [99.0 if v == "inf" else float(v) for v in re.findall(r"psnr_avg:(\S+)", (work / "psnr.log").read_text())]
        ssim = [float(v) for v in re.findall(r"All:(\S+)", (work / "ssim.log").read_text())]
        frames = media.count_packets(clip)
        rows.append({"clip": s["clip_id"], "frames": frames, "frames_ok": frames == s["frame_count"] == len(psnr),
                     "psnr_mean": round(statistics.fmean(psnr), 2), "psnr_min": round(min(psnr), 2),
                     "ssim_mean": round(statistics.fmean(ssim), 5), "ssim_min": round(min(ssim), 5)})
        psnr_all += psnr
        ssim_all += ssim
    size = sum((out / s["clip"]).stat().st_size for s in art["scenes"])
    return {"clips": rows, "psnr_mean": round(statistics.fmean(psnr_all), 2), "psnr_min": round(min(psnr_all), 2),
            "ssim_mean": round(statistics.fmean(ssim_all), 5), "ssim_min": round(min(ssim_all), 5),
            "clip_bytes": size, "all_frames_ok": all(r["frames_ok"] for r in rows)}


def median_of(rounds: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rounds), 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-tools", type=Path, help="also time step1_scenes.py of this tools/ directory")
    ap.add_argument("--clip-crf", type=int, help="[scenes] clip_crf of the step1 run (default: the schema's)")
    ap.add_argument("--clip-preset", help="[scenes] clip_preset of the step1 run (default: the schema's)")
    ap.add_argument("--work", type=Path, help="keep the file and outputs here (default: a temporary folder)")
    ap.add_argument("--out", type=Path, help="write the results JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-step1-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        video = make_source(work / "pal.mp4")
        tools = {"step1": REPO / "tools"}
        if args.baseline_tools:
            tools["baseline"] = args.baseline_tools.resolve()
        settings = {k: v for k, v in (("clip_crf", args.clip_crf), ("clip_preset", args.clip_preset)) if v is not None}
        rounds, hashes = [], {}
        for _ in range(args.repeat):
            r = {}
            r["decode_s"], r["decode_cpu"], r["decode_load"] = timed(["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "null", "-"])
            for name, where in tools.items():
                r[f"{name}_s"], r[f"{name}_cpu"], r[f"{name}_load"], phases = step1(where, video, work / f"{name}-out",
                                                                  settings if name == "step1" else {})
                r[f"{name}_detect_s"], r[f"{name}_clips_s"] = phases.get("detect"), phases.get("clips")
                hashes.setdefault(name, set()).add(digest(work / f"{name}-out"))
            r["scenedetect_s"], r["scenedetect_cpu"], r["scenedetect_load"] = scenedetect(video, work / "scenedetect-out")
            r["ratio"] = r["step1_s"] / r["scenedetect_s"]
            r["cpu_ratio"] = r["step1_cpu"] / r["scenedetect_cpu"]
            rounds.append(r)
            print(json.dumps({k: round(v, 3) for k, v in r.items()}), file=sys.stderr)
        keys = [k for k in rounds[0] if not k.endswith("_load")]
        results = {
            "video": {"frames": sum(SHOTS), "shots": len(SHOTS), "size": f"{W}x{H}", "sar": SAR, "fps": FPS,
                      "bytes": video.stat().st_size},
            "machine": {"cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                                     if ln.startswith("model name")), platform.processor()),
                        "cpu_count": os.cpu_count(), "platform": platform.platform(),
                        "ffmpeg": media.program_version("ffmpeg"),
                        "scenedetect": subprocess.run([sys.executable, "-c", "import scenedetect; print(scenedetect.__version__)"],
                                                      capture_output=True, text=True).stdout.strip()},
            "repeat": args.repeat, "step1_scenes_settings": settings,
            "median": {k: median_of(rounds, k) for k in keys},
            "load_1min": [round(min(r[k] for r in rounds for k in r if k.endswith("_load")), 2),
                          round(max(r[k] for r in rounds for k in r if k.endswith("_load")), 2)],
            "same_bytes_every_round": {name: len(h) == 1 for name, h in hashes.items()},
            "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
            "quality": {name: quality(work / f"{name}-out", video, work) for name in tools},
            "scenedetect_clip_bytes": sum(p.stat().st_size for p in (work / "scenedetect-out").glob("*.mp4")),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
