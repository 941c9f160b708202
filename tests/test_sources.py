"""Sources as they come, made with ffmpeg in the test (the environment's pinned ffmpeg): phone video
with a display matrix (turned, mirrored), interlaced H.264 and MPEG-2, telecined film, letterbox and
pillarbox. step1-scenes runs as its CLI; its clips are checked against ffmpeg's own view of the
source (autorotated picture, idet, cropdetect), never against reelset's code."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import orjson
import pytest

from conftest import run_tool, scenes_spec
from reelset import media
from reelset.schemas.scenes import ScenesArtifact

# testsrc2's fine text and lines read as combing to idet; blurred it is progressive (idet: 100/100)
SOFT = "gblur=sigma=1.5"


def ff(*args: str) -> None:
    proc = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-v", "error", "-y", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def frames(path, size: tuple[int, int], autorotate: bool = True, vf: str = "") -> np.ndarray:
    """Every frame of ``path`` as (n, h, w) grayscale float, scaled to ``size`` = (w, h); ffmpeg's
    own autorotation unless ``autorotate`` is False; ``vf`` filters first."""
    w, h = size
    chain = ",".join(f for f in (vf, f"scale={w}:{h},format=gray") if f)
    proc = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-v", "error", *([] if autorotate else ["-noautorotate"]),
                           "-i", str(path), "-map", "0:v:0", "-vf", chain, "-fps_mode", "passthrough", "-f", "rawvideo", "-"],
                          capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.uint8).reshape(-1, h, w).astype(np.float32)


def stream(path) -> dict:
    data = orjson.loads(subprocess.run([media.tool("ffprobe"), "-v", "error", "-of", "json", "-count_frames", "-show_streams",
                                        "-select_streams", "v:0", str(path)], capture_output=True, check=True).stdout)
    return data["streams"][0]


def idet(path) -> dict[str, int]:
    """ffmpeg idet's multi-frame counts over every frame of ``path``."""
    err = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-i", str(path), "-map", "0:v:0", "-vf", "idet", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    m = re.search(r"Multi frame detection: TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)", err)
    return {"tff": int(m.group(1)), "bff": int(m.group(2)), "progressive": int(m.group(3))}


def cropdetect(path) -> str:
    """ffmpeg cropdetect's box (round=2) over every frame of ``path``: 'W:H:X:Y'."""
    err = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-i", str(path), "-map", "0:v:0", "-vf", "cropdetect=round=2:reset=0",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    return re.findall(r"crop=(\S+)", err)[-1]


def step1(video, tmp_path, **options) -> tuple[ScenesArtifact, object]:
    spec = scenes_spec(video)
    if options:
        spec["video_options"] = options
    out = tmp_path / "scenes"
    proc = run_tool("step1_scenes.py", spec, out, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return ScenesArtifact.model_validate(orjson.loads((out / "scenes.json").read_bytes())), out


def two_shots(out, size: str, rate: str, frames_each: int, vf: str = "", codec: tuple[str, ...] = ("-c:v", "libx264")) -> None:
    """testsrc2 (blurred) then smptebars, ``frames_each`` frames each at ``rate``, through ``vf``."""
    ff("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate},{SOFT},trim=end_frame={frames_each}",
       "-f", "lavfi", "-i", f"smptebars=size={size}:rate={rate},trim=end_frame={frames_each}",
       "-filter_complex", f"[0:v][1:v]concat=n=2:v=1:a=0{',' + vf if vf else ''},format=yuv420p[v]", "-map", "[v]",
       *codec, str(out))


# -------------------------------------------------------------------------- display matrix
# (ffmpeg input options that set the display matrix, expected rotation (counter-clockwise), mirrored, displayed size)
ORIENTATIONS = {
    "phone-portrait": (["-display_rotation", "-90"], 270, False, (180, 320)),
    "rotated-90": (["-display_rotation", "90"], 90, False, (180, 320)),
    "upside-down": (["-display_rotation", "180"], 180, False, (320, 180)),
    "mirrored": (["-display_hflip"], 180, True, (320, 180)),
    "flipped": (["-display_vflip"], 0, True, (320, 180)),
    "rotated-mirrored": (["-display_rotation", "90", "-display_hflip"], 90, True, (180, 320)),
}


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_display_matrix_gives_clips_at_the_displayed_orientation_and_size(tmp_path, name):
    options, rotation, mirrored, size = ORIENTATIONS[name]
    plain = tmp_path / "plain.mp4"
    two_shots(plain, "320x180", "25", 25)
    src = tmp_path / f"{name}.mp4"
    ff(*options, "-i", str(plain), "-c", "copy", str(src))
    art, out = step1(src, tmp_path)
    assert (art.source.rotation, art.source.mirrored) == (rotation, mirrored)
    assert (art.source.display_width, art.source.display_height) == size
    assert [(s.width, s.height) for s in art.scenes] == [size, size]
    assert (art.picture.width, art.picture.height) == size
    own_view = frames(src, size)  # what ffmpeg shows: its autorotate applies the display matrix
    assert own_view.shape[0] == art.total_frames == 50
    for s in art.scenes:
        clip = out / s.clip
        assert (stream(clip)["width"], stream(clip)["height"]) == size
        got = frames(clip, size)
        assert got.shape[0] == s.frame_count
        want = own_view[s.start_frame:s.end_frame]
        assert float(np.abs(got - want).mean()) < 3.0, s.clip_id
    # the test can fail: the coded picture (no display matrix) differs from the displayed one
    coded = frames(src, size, autorotate=False)
    assert float(np.abs(coded[:25] - own_view[:25]).mean()) > 10.0
    thumb = out / art.scenes[0].thumbnail
    tw, th = stream(thumb)["width"], stream(thumb)["height"]
    assert abs(tw / th - size[0] / size[1]) < 0.02, (tw, th)


def test_anamorphic_phone_video_is_turned_then_made_square(tmp_path):
    """SAR and display matrix together: 320x180 coded with SAR 4:3 is 426x180 displayed; turned, ffmpeg
    shows 180x320 at SAR 3:4, which is 136x320 in square pixels (width x SAR, height kept)."""
    plain = tmp_path / "plain.mp4"
    two_shots(plain, "320x180", "25", 25, vf="setsar=4/3")
    src = tmp_path / "ana-portrait.mp4"
    ff("-display_rotation", "-90", "-i", str(plain), "-c", "copy", str(src))
    art, out = step1(src, tmp_path)
    assert (art.source.display_width, art.source.display_height) == (136, 320)
    clip = out / art.scenes[0].clip
    assert (stream(clip)["width"], stream(clip)["height"]) == (136, 320)
    assert float(np.abs(frames(clip, (136, 320)) - frames(src, (136, 320))[:25]).mean()) < 3.0
