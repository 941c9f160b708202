#!/usr/bin/env python3
"""Regenerate the demo video ``pipelines/demo/demo.mp4`` (committed; this script documents it).

The demo is a 24.0 s, 25 fps, 480x270 H.264 + AAC (48 kHz mono) MP4 with four shots of
exactly 150 frames each (hard cuts at frames 150, 300 and 450, i.e. 6.0 s, 12.0 s and 18.0 s)
made from ffmpeg lavfi test sources, and an English dialogue spoken by espeak-ng that names
four characters (Archer, Lana, Cyril, Malory). The spoken script is in ``script.json`` beside
this file, with the time each line starts (seconds); tests use it to score ASR word error rate.

Usage: ``python pipelines/demo/make_demo.py [OUT.mp4]`` (needs ``ffmpeg`` and ``espeak-ng``
on PATH). The output is bit-identical for the same ffmpeg and espeak-ng versions
(single-threaded x264, ``-fflags +bitexact``, no metadata); another version of either tool
gives a slightly different file with the same shots and speech, which is why the file
itself is committed and is the demo's fixed input.

Raises ``subprocess.CalledProcessError`` when ffmpeg or espeak-ng fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FPS = 25
SHOT_FRAMES = 150
WIDTH, HEIGHT = 480, 270
# lavfi video source per shot; each differs strongly from the next in HSV content.
SHOT_SOURCES = [
    f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
    f"smptehdbars=size={WIDTH}x{HEIGHT}:rate={FPS}",
    f"mandelbrot=size={WIDTH}x{HEIGHT}:rate={FPS}",
    f"color=c=0x203080:size={WIDTH}x{HEIGHT}:rate={FPS},"
    "drawbox=x='40+t*20':y=60:w=120:h=120:color=0xF0C040:t=fill",
]


def load_script() -> list[dict]:
    """The dialogue: a list of {speaker, voice, start_s, text} (start_s in seconds)."""
    return json.loads((HERE / "script.json").read_text())["lines"]


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_demo(out: Path) -> None:
    """Write the demo MP4 to ``out`` (see module docstring for its exact properties)."""
    lines = load_script()
    total_s = len(SHOT_SOURCES) * SHOT_FRAMES / FPS
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        # 1. speech: one wav per line, placed at start_s with adelay, mixed to one track.
        inputs: list[str] = []
        filters: list[str] = []
        for i, line in enumerate(lines):
            wav = tmpd / f"line{i}.wav"
            run(["espeak-ng", "-v", line["voice"], "-s", "150", "-w", str(wav), line["text"]])
            inputs += ["-i", str(wav)]
            delay_ms = int(round(line["start_s"] * 1000))
            filters.append(f"[{i}:a]aresample=48000,adelay={delay_ms}:all=1[a{i}]")
        mix = "".join(f"[a{i}]" for i in range(len(lines)))
        filters.append(
            f"{mix}amix=inputs={len(lines)}:normalize=0,apad,atrim=0:{total_s}[aout]"
        )
        speech = tmpd / "speech.wav"
        run(["ffmpeg", "-nostdin", "-y", *inputs, "-filter_complex", ";".join(filters),
             "-map", "[aout]", "-ac", "1", "-ar", "48000", str(speech)])
        # 2. video: four shots of SHOT_FRAMES frames each, concatenated.
        vin: list[str] = []
        for src in SHOT_SOURCES:
            vin += ["-f", "lavfi", "-i", f"{src},trim=end_frame={SHOT_FRAMES},format=yuv420p"]
        n = len(SHOT_SOURCES)
        concat = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[vout]"
        run(["ffmpeg", "-nostdin", "-y", *vin, "-i", str(speech),
             "-filter_complex", concat, "-map", "[vout]", "-map", f"{n}:a",
             "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-threads", "1",
             "-g", str(FPS * 2), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
             "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
             "-map_metadata", "-1", "-movflags", "+faststart", str(out)])


if __name__ == "__main__":
    make_demo(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "demo.mp4")
