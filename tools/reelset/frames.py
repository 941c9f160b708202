"""Exact single-frame extraction (ffmpeg) and contact sheets (Pillow).

Times are seconds, frame indices 0-based, sizes pixels. "The frame at t" is the frame on
screen at t: the last frame whose presentation time is <= t (bisect over ffprobe's packet
times, so VFR sources are handled too).
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from reelset import ReelsetError, media


def frame_at(times: list[float], t: float) -> int:
    """Index of the frame shown at ``t`` seconds given sorted frame times; ReelsetError when
    ``t`` lies before the first frame."""
    i = bisect_right(times, t + 1e-9) - 1
    if i < 0:
        raise ReelsetError(f"t = {t} s lies before the first frame ({times[0]:.3f} s)")
    return i


def extract_frame(src: Path, frame_t: float, next_t: float | None, dst: Path, width: int, height: int,
                  turn: list[str] | None = None) -> None:
    """Write the frame presented at ``frame_t`` (seconds) of ``src`` as PNG ``dst``, scaled to
    ``width`` x ``height`` square pixels, upright: a frame the decoder marks interlaced is
    deinterlaced first (``bwdif``, ``deint=interlaced``: progressive frames pass untouched), then
    turned by ``turn`` (the source's display-matrix filters, ``VideoInfo.orientation_filters``;
    ``-noautorotate``, so the fields are still rows when they are woven).

    The input seek point is halfway between the frame and its predecessor-free window
    (``frame_t - half a frame``): ffmpeg's accurate seek drops every frame earlier than the
    seek point, so the first decoded frame is exactly the requested one.
    """
    half = ((next_t - frame_t) / 2) if next_t is not None else 0.02
    seek = max(0.0, frame_t - half)
    chain = ",".join(["bwdif=mode=send_frame:deint=interlaced", *(turn or []), f"scale={width}:{height}", "setsar=1"])
    media.run_ffmpeg(["-noautorotate", "-ss", f"{seek:.6f}", "-i", str(src), "-map", "0:v:0", "-frames:v", "1",
                      "-vf", chain, *media.BITEXACT, str(dst)],
                     f"extracting the frame at {frame_t:.3f} s", src)


def contact_sheet(images: list[tuple[Path, str]], dst: Path, cell_width: int = 240, columns: int = 4) -> None:
    """JPEG grid of ``images`` ([(path, label)]), each scaled to ``cell_width`` pixels wide with
    its label underneath (Pillow's default font). An empty list gives a 1-cell blank sheet."""
    cells = []
    for path, label in images:
        with Image.open(path) as im:
            im = im.convert("RGB")
            h = max(1, round(im.height * cell_width / im.width))
            cells.append((im.resize((cell_width, h)), label))
    label_h = 16
    rows = max(1, -(-len(cells) // columns))
    cell_h = max((c.height for c, _ in cells), default=cell_width * 9 // 16) + label_h
    sheet = Image.new("RGB", (cell_width * min(columns, max(1, len(cells))), cell_h * rows), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (im, label) in enumerate(cells):
        x, y = (i % columns) * cell_width, (i // columns) * cell_h
        sheet.paste(im, (x, y))
        draw.text((x + 2, y + im.height + 2), label, fill="black", font=font)
    sheet.save(dst, "JPEG", quality=90)
