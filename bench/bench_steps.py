"""Benchmark of the first two steps on a video (default: the demo), against bare baselines.

Measures (wall seconds, best of ``--repeat`` runs):
- step1-scenes (the tool's CLI, clips included) vs ``ffmpeg -i VIDEO -f null -`` (a full
  decode of the same file): ratio = scenes / decode;
- step2-transcript-base (the tool's CLI: ffmpeg decode + model load + VAD + ASR) vs bare
  faster-whisper on the same file with the same model and settings (``WhisperModel`` +
  ``transcribe(path, vad_filter=True, word_timestamps=True)``, in a fresh interpreter like
  the step): RTF of each and their ratio;
- optionally (``--nix``) the wall time of each step built through Nix with the host
  toolchain (``nix build --rebuild`` of the demo shards, so the build really runs).

Usage: ``.venv/bin/python bench/bench_steps.py [--video V] [--repeat N] [--nix] [--out bench/results.json]``.
Results are JSON (and printed); record them in bench/RESULTS.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

from conftest import DEMO_VIDEO, TINY_EN, nix_env, scenes_spec, transcript_spec  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_cli(script: str, spec: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        subprocess.run([sys.executable, str(REPO / "tools" / script), "--spec", f"{tmp}/spec.json", "--out", f"{tmp}/out"],
                       check=True, capture_output=True)


def audio_seconds(video: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=duration",
                          "-of", "csv=p=0", str(video)], capture_output=True, text=True, check=True).stdout
    return float(out.strip())


BARE_WHISPER = """
import sys
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8")
segments, _ = model.transcribe(sys.argv[2], language="en", beam_size=5, vad_filter=True, word_timestamps=True)
list(segments)
"""


def bare_whisper(video: Path) -> None:
    """Bare faster-whisper in a fresh interpreter (like the step: imports + model load count)."""
    subprocess.run([sys.executable, "-c", BARE_WHISPER, str(TINY_EN), str(video)], check=True, capture_output=True)


def nix_step_times() -> dict[str, float]:
    times = {}
    for step in ("step1-scenes", "step2-transcript-base"):
        attr = f".#host.{step}.shards.demo01"
        subprocess.run(["nix", "build", "--impure", "--no-link", attr], check=True, cwd=REPO, env=nix_env(True),
                       capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(["nix", "build", "--impure", "--no-link", "--rebuild", attr], cwd=REPO, env=nix_env(True),
                       capture_output=True)  # --rebuild may report non-determinism (timings in meta.json); time counts
        times[step] = round(time.perf_counter() - t0, 3)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, default=DEMO_VIDEO)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nix", action="store_true", help="also time the Nix builds of the demo shards")
    ap.add_argument("--out", type=Path, help="write the results JSON here")
    args = ap.parse_args()
    video = args.video.resolve()
    dur = audio_seconds(video)
    decode = best(lambda: subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "null", "-"],
                                         check=True), args.repeat)
    scenes = best(lambda: run_cli("step1_scenes.py", scenes_spec(video)), args.repeat)
    asr_step = best(lambda: run_cli("step2_transcript_base.py", transcript_spec(video)), args.repeat)
    asr_bare = best(lambda: bare_whisper(video), args.repeat)
    results = {
        "video": video.name, "duration_s": round(dur, 3), "repeat": args.repeat,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "ffmpeg": subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]},
        "ffmpeg_decode_s": round(decode, 3),
        "step1_scenes_s": round(scenes, 3),
        "scenes_vs_decode_ratio": round(scenes / decode, 2),
        "step2_transcript_base_s": round(asr_step, 3),
        "step2_transcript_base_rtf": round(asr_step / dur, 4),
        "bare_faster_whisper_s": round(asr_bare, 3),
        "bare_faster_whisper_rtf": round(asr_bare / dur, 4),
        "asr_step_vs_bare_ratio": round(asr_step / asr_bare, 2),
    }
    if args.nix and shutil.which("nix"):
        results["nix_build_s"] = nix_step_times()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
