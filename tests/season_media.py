"""Media of a season whose shared parts scene detection cuts differently in each episode
(issue 39), made with ffmpeg lavfi + espeak-ng; used by tests/test_repeats.py and
bench/bench_episode.py --season.

The animated end card (:func:`end_card_source`): a moving lavfi pattern (testsrc2 turned upside
down: the bench's intro opens with testsrc2 itself, and the same frames *are* a repeat) under a fine 4x4-pixel
checker of luma whose phase and amplitude jump twice (at 0.68 s and 1.64 s: a shimmering card
whose text flashes). PySceneDetect's ContentDetector measures per-pixel HSV change, so each jump
is a cut candidate; a region-mean fingerprint does not see the checker at all (its mean is
zero). An episode re-encoded *softer* (:data:`SOFTNESS`: a Gaussian blur, as two releases of a
show differ in sharpness) keeps the picture's regions and means but lowers the checker's
contrast, so the same card is cut into 3 clips (sharp: both jumps pass the detector's 27), 2
(sigma 0.8: only the larger) or 1 (sigma 2: neither) — measured: scores 35 / 52 sharp, 23 / 36 at
0.8, 11 / 14 at 2 (320x240 and 640x360 alike).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

JUMPS_S = (0.68, 1.64)  # the end card's two flashes, seconds from its start
SOFTNESS = (2.0, 0.8, 0.0)  # gblur sigma of episode 1, 2, 3 (then again): 1, 2, 3 clips of the end card


def end_card_source(size: str, rate: int, base: str = "testsrc2=size={s}:rate={r},hflip,vflip") -> str:
    """The lavfi source of the animated end card at ``size`` (WxH) and ``rate`` fps (see the module
    docstring): ``base`` with the flashing checker; cut it with ``-t``."""
    a, b = JUMPS_S
    amp = f"if(lt(T,{a}),0,if(lt(T,{b}),90,-80))"  # jumps of 90 and 170 grey levels of checker contrast
    checker = "(2*mod(floor(X/4)+floor(Y/4),2)-1)"
    return (base.format(s=size, r=rate) +
            f",format=yuv420p,geq=lum='clip(lum(X,Y)+{amp}*{checker},0,255)':cb='cb(X,Y)':cr='cr(X,Y)'")


def softness(k: int) -> str:
    """The video filter re-encoding episode ``k`` (1-based): a Gaussian blur of SOFTNESS[k-1] (cyclic), or none."""
    sigma = SOFTNESS[(k - 1) % len(SOFTNESS)]
    return f"gblur=sigma={sigma}" if sigma else "null"


def spoken_part(dest: Path, source: str, text: str, seconds: float, extra: list[str] | None = None) -> Path:
    """``seconds`` of the lavfi ``source`` with ``text`` spoken by espeak-ng under it (16 kHz mono
    AAC, x264 veryfast): one shot of an episode."""
    wav = dest.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(wav), text], check=True, capture_output=True)
    _ffmpeg("-f", "lavfi", "-i", source, "-i", str(wav), "-t", f"{seconds:.3f}", "-af", "apad", "-ar", "16000", "-ac", "1",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "1",
            *(extra or []), "-c:a", "aac", str(dest))
    return dest


def join(dest: Path, parts: list[Path], vf: str = "null") -> Path:
    """``parts`` one after the other (hard cuts), re-encoded as one video through the filter ``vf``."""
    inputs = [a for p in parts for a in ("-i", str(p))]
    streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(parts)))
    _ffmpeg(*inputs, "-filter_complex", f"{streams}concat=n={len(parts)}:v=1:a=1[c][a];[c]{vf}[v]",
            "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-threads", "2", "-c:a", "aac", "-ar", "16000", "-ac", "1", str(dest))
    return dest


def _ffmpeg(*args: str) -> None:
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)}: {proc.stderr[-2000:]}")
