"""What a source's picture needs before scenes are detected and clips cut: interlace undone,
the display matrix applied, letterbox / pillarbox bars cropped — decided once per video from a
sample of its frames, never per shot.

Everything is an ffmpeg filter (``idet``, ``fieldmatch``/``decimate``, ``bwdif``, ``cropdetect``,
``transpose``/``hflip``/``vflip``, ``crop``); this module only samples, decides and builds the
chains. Sizes are pixels, times seconds. Run by step1-scenes (tools/step1_scenes.py).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from reelset import ReelsetError, media
from reelset.schemas.scenes import Crop, Interlace, Picture, VideoInfo

SAMPLES = 10  # points spread over the video (at (k + 0.5) / SAMPLES of its duration)
FRAMES_INTERLACED = 30  # frames per point when the stream is not declared progressive (6 telecine cycles)
FRAMES_CROP = 6  # frames per point otherwise (cropdetect skips the first 2)
# idet: share of interlaced frames (multi-frame TFF + BFF over those decided) that confirms interlace
INTERLACED_SHARE = 0.5
# idet: share of frames with a repeated field that marks 3:2 pulldown (2 of every 5 frames: 0.4)
TELECINE_REPEATED = 0.25
TELECINE_FPS = (Fraction(30000, 1001), Fraction(30))  # rates that hard telecine produces
CROP_MIN_SHARE = 0.01  # bars narrower than this share of the frame on both axes are left alone
CROP_SPEC = re.compile(r"^(\d+):(\d+):(\d+):(\d+)$")
# display field order → bwdif/fieldmatch parity ('tb': top coded first, bottom displayed first)
PARITY = {"tt": "tff", "bt": "tff", "bb": "bff", "tb": "bff"}


@dataclass(frozen=True)
class Plan:
    """The filters for one video: ``analysis`` makes the lossless intermediate that scenes are
    detected on and clips cut from (inverse telecine, which changes the frame grid, or deinterlace:
    PySceneDetect's OpenCV decoder cannot convert interlaced frames, "swscaler: Cannot convert
    interlaced to progressive frames", and would see no cut); ``picture`` keeps one frame per frame
    (display-matrix turn, crop; run when clips are cut); ``fps`` the frame rate after ``analysis``;
    ``record`` what scenes.json says."""

    analysis: str
    picture: str
    fps: Fraction
    record: Picture


def parse_crop(value: str, where: str) -> tuple[int, int, int, int] | None:
    """``crop`` of a ``[[videos]]`` entry: None for 'auto'/'none' handled by the caller, else the
    (W, H, X, Y) box of 'W:H:X:Y'. ReelsetError naming ``where`` for anything else."""
    m = CROP_SPEC.match(value)
    if not m:
        raise ReelsetError(f"{where}: crop = \"{value}\": expected \"auto\", \"none\" or \"W:H:X:Y\" (pixels of the "
                           f"displayed picture, e.g. \"1920:800:0:140\")")
    w, h, x, y = (int(g) for g in m.groups())
    return w, h, x, y


def sample(src: Path, info: VideoInfo, frames: int, with_idet: bool) -> tuple[dict[str, int], list[tuple[int, int, int, int]], int]:
    """Decode ``frames`` frames at each of :data:`SAMPLES` points of ``src`` (fast seek to the
    keyframe before the point) through ``idet`` (coded picture: fields are its rows) then the display
    matrix turn and ``cropdetect`` (``round=2``, limit 24/255, never reset: the box holding every
    non-black pixel of the point's frames). Returns (idet counts summed over the points, the
    non-black boxes (x1, y1, x2, y2) of the points that have one, frames decoded)."""
    counts = dict.fromkeys(("tff", "bff", "progressive", "undetermined", "repeated_top", "repeated_bottom", "neither"), 0)
    boxes, decoded = [], 0
    chain = ",".join([*(["idet"] if with_idet else []), *info.orientation_filters, "cropdetect=round=2:reset=0"])
    for k in range(SAMPLES):
        t = info.duration_s * (k + 0.5) / SAMPLES
        proc = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "info", "-noautorotate", "-ss", f"{t:.3f}",
                               "-noaccurate_seek", "-i", str(src), "-map", "0:v:0", "-frames:v", str(frames),
                               "-vf", chain, "-f", "null", "-"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ReelsetError(f"{src}: not a decodable video: sampling frames at {t:.3f} s failed: "
                               f"{proc.stderr.strip()[-500:]}")
        found = re.findall(r"x1:(-?\d+) x2:(-?\d+) y1:(-?\d+) y2:(-?\d+)", proc.stderr)
        progress = re.findall(r"frame=\s*(\d+)", proc.stderr)
        decoded += int(progress[-1]) if progress else 0
        if found:
            x1, x2, y1, y2 = (int(v) for v in found[-1])
            if x2 >= x1 and y2 >= y1:  # an all-black point has none
                boxes.append((x1, y1, x2, y2))
        for key, pattern in (("tff", r"Multi frame detection: TFF:\s*(\d+)"), ("bff", r"Multi frame detection:.*BFF:\s*(\d+)"),
                             ("progressive", r"Multi frame detection:.*Progressive:\s*(\d+)"),
                             ("undetermined", r"Multi frame detection:.*Undetermined:\s*(\d+)"),
                             ("neither", r"Repeated Fields: Neither:\s*(\d+)"), ("repeated_top", r"Repeated Fields:.*Top:\s*(\d+)"),
                             ("repeated_bottom", r"Repeated Fields:.*Bottom:\s*(\d+)")):
            m = re.search(pattern, proc.stderr)
            counts[key] += int(m.group(1)) if m else 0
    return counts, boxes, decoded


def interlace_action(info: VideoInfo, idet: dict[str, int]) -> tuple[str, str]:
    """(action, parity) from the stream's field order and idet's counts.

    A stream that declares progressive frames is taken at its word (idet mistakes fine horizontal
    detail for combing). Otherwise: a repeated field in at least :data:`TELECINE_REPEATED` of the
    frames of a 29.97/30 fps stream with combing is 3:2 pulldown → 'inverse_telecine'; interlaced
    frames in at least :data:`INTERLACED_SHARE` of those idet decided → 'deinterlace'; else 'none'
    (progressive content in an interlaced stream). The parity is the declared display field order,
    else idet's majority."""
    if info.field_order == "progressive" or not idet:
        return "none", "tff"
    parity = PARITY.get(info.field_order) or ("bff" if idet["bff"] > idet["tff"] else "tff")
    combed = idet["tff"] + idet["bff"]
    decided = combed + idet["progressive"]
    seen = idet["neither"] + idet["repeated_top"] + idet["repeated_bottom"]
    repeated = (idet["repeated_top"] + idet["repeated_bottom"]) / seen if seen else 0.0
    if combed and repeated >= TELECINE_REPEATED and media.snap_fps(Fraction(info.fps_rational)) in TELECINE_FPS:
        return "inverse_telecine", parity
    if decided and combed / decided >= INTERLACED_SHARE:
        return "deinterlace", parity
    return "none", parity


def crop_box(boxes: list[tuple[int, int, int, int]], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The stable crop (W, H, X, Y) of a video: the smallest even box holding every sample's
    non-black box (bars must be black at every point, so a dark scene never narrows it), or None
    when no sample had a picture or the bars are under :data:`CROP_MIN_SHARE` of the frame."""
    if not boxes:
        return None
    x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    x, y = x1 + x1 % 2, y1 + y1 % 2
    w, h = (x2 + 1 - x) // 2 * 2, (y2 + 1 - y) // 2 * 2
    if (width - w) < CROP_MIN_SHARE * width and (height - h) < CROP_MIN_SHARE * height:
        return None
    return w, h, x, y


def plan(src: Path, info: VideoInfo, crop: str = "auto", where: str = "") -> Plan:
    """Decide the filters of ``src``: inverse telecine or deinterlace (:func:`interlace_action`), the
    display matrix turn (``info.orientation_filters``) and the crop (``crop``: 'auto' → cropdetect
    over :data:`SAMPLES` points (:func:`crop_box`), 'none', or 'W:H:X:Y' in displayed pixels, checked
    against the displayed frame; ``where`` names the setting in errors). The clip size is the crop
    (or the displayed frame) in square pixels: its width times the turned SAR, both even.

    Samples only what a decision needs: nothing for a progressive stream with ``crop`` other than
    'auto'."""
    sar = Fraction(info.sample_aspect_ratio.replace(":", "/"))
    turned = info.rotation in (90, 270)
    frame_w, frame_h = (info.height, info.width) if turned else (info.width, info.height)
    with_idet = info.field_order != "progressive"
    idet, boxes, decoded = {}, [], 0
    if with_idet or crop == "auto":
        idet, boxes, decoded = sample(src, info, FRAMES_INTERLACED if with_idet else FRAMES_CROP, with_idet)
        if not with_idet:
            idet = {}
    action, parity = interlace_action(info, idet)
    fps = Fraction(info.fps_rational)
    analysis = ""
    if action == "inverse_telecine":
        fps = media.snap_fps(fps)  # a Matroska rate may be 29.97 to the millisecond
        # ffmpeg-filters "fieldmatch" example: match fields, deinterlace what stays combed, drop 1 in 5
        analysis = f"fieldmatch=order={parity}:combmatch=full,bwdif=mode=send_frame:parity={parity}:deint=interlaced,decimate"
        fps = fps * Fraction(4, 5)
    elif action == "deinterlace":
        analysis = f"bwdif=mode=send_frame:parity={parity}:deint=all"
    detected = box = None
    if crop == "auto":
        found = crop_box(boxes, frame_w, frame_h)
        if boxes:
            x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
            x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
            detected = f"{x2 + 1 - x1}:{y2 + 1 - y1}:{x1}:{y1}"
        box = found
    elif crop != "none":
        box = parse_crop(crop, where or "crop")
        w, h, x, y = box
        if w < 2 or h < 2 or x + w > frame_w or y + h > frame_h:
            raise ReelsetError(f"{where or 'crop'}: crop = \"{crop}\" does not fit the displayed {frame_w}x{frame_h} "
                               f"picture of {info.file} (W:H:X:Y with X + W <= {frame_w}, Y + H <= {frame_h})")
    crop_filter = f"crop={box[0]}:{box[1]}:{box[2]}:{box[3]}" if box else ""
    pic_w, pic_h = (box[0], box[1]) if box else (frame_w, frame_h)
    width, height = media.display_size(pic_w, pic_h, 1 / sar if turned else sar, 0)  # transpose inverts SAR
    picture = ",".join(f for f in (*info.orientation_filters, crop_filter) if f)
    record = Picture(
        interlace=Interlace(field_order=info.field_order, idet=idet, action=action, filter=analysis),
        crop=Crop(setting=crop, detected=detected, applied=f"{box[0]}:{box[1]}:{box[2]}:{box[3]}" if box else None),
        orientation_filters=info.orientation_filters,
        filters=",".join(f for f in (analysis, picture) if f), width=width, height=height, sampled_frames=decoded)
    return Plan(analysis=analysis, picture=picture, fps=fps, record=record)
