"""Media helpers on top of ffmpeg/ffprobe (subprocess): probing, CFR resampling, frame-accurate
clips, thumbnails and 16 kHz mono audio decoding.

All times are seconds, frame indices are 0-based on the analysis frame grid, sizes are
pixels. Every function raises :class:`reelset.ReelsetError` naming the file and ffmpeg's
reason when the input cannot be read. Encodes use fixed thread counts and ``bitexact``
flags so the same input gives the same bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from reelset import ReelsetError
from reelset.schemas.scenes import VideoInfo

# Frame rates a VFR source's average is snapped to when within 1 % (NTSC rates exact).
STANDARD_FPS = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001),
                Fraction(30), Fraction(50), Fraction(60000, 1001), Fraction(60)]
ENCODER_THREADS = "2"  # fixed so x264 output does not depend on the machine's core count
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1", "-map_chapters", "-1"]


def source_name(path: Path) -> str:
    """File name of a source without the Nix store hash prefix ('<32 chars>-ep01.mkv' → 'ep01.mkv')."""
    name = path.name
    if str(path.parent) == "/nix/store" and len(name) > 33 and name[32] == "-":
        return name[33:]
    return name


def tool(name: str) -> str:
    """Absolute path of ``ffmpeg``/``ffprobe`` on PATH; ReelsetError when missing."""
    found = shutil.which(name)
    if not found:
        raise ReelsetError(f"{name} not found on PATH; install ffmpeg (Debian: apt-get install ffmpeg)")
    return found


def run_ffmpeg(args: list[str], what: str, src: Path) -> None:
    """Run ``ffmpeg -nostdin -v error -y ARGS``; ReelsetError '<src>: <what> failed: <stderr>'."""
    proc = subprocess.run([tool("ffmpeg"), "-nostdin", "-v", "error", "-y", *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{src}: {what} failed: {proc.stderr.strip()[-800:]}")


def ffprobe_json(path: Path, *args: str) -> dict:
    """``ffprobe -of json`` of ``path`` with extra args; ReelsetError if it is not media."""
    if not path.exists():
        raise ReelsetError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise ReelsetError(f"{path}: not a decodable video: the file is empty (0 bytes)")
    proc = subprocess.run([tool("ffprobe"), "-v", "error", "-of", "json", *args, str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{path}: not a decodable video: ffprobe says: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout or "{}")


def _fraction(text: str | None) -> Fraction | None:
    try:
        value = Fraction(text) if text and text not in ("0/0", "N/A") else None
    except (ValueError, ZeroDivisionError):
        return None
    return value if value else None


def frame_times(path: Path) -> list[float]:
    """Presentation times (seconds, sorted) of every video packet of the first video stream."""
    data = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time")
    times = sorted(float(p["pts_time"]) for p in data.get("packets", []) if p.get("pts_time") not in (None, "N/A"))
    return times


def is_vfr(times: list[float]) -> bool:
    """True when frame durations spread by more than 10 % around their median.

    Millisecond time bases (MKV) make CFR 29.97 alternate 33/34 ms (3 %), which stays CFR.
    """
    if len(times) < 3:
        return False
    deltas = np.diff(np.asarray(times))
    deltas = deltas[deltas > 0]
    if deltas.size < 2:
        return False
    median = float(np.median(deltas))
    return float(deltas.max() - deltas.min()) > 0.10 * median


def snap_fps(fps: Fraction) -> Fraction:
    """Snap an average frame rate to a standard rate within 1 %, else round to 1/1000 fps."""
    for std in STANDARD_FPS:
        if abs(float(fps) / float(std) - 1) < 0.01:
            return std
    return Fraction(round(float(fps) * 1000), 1000)


def probe_video(path: Path) -> tuple[VideoInfo, list[float]]:
    """Probe ``path``: (VideoInfo, sorted frame times in seconds).

    Raises ReelsetError when the file is missing, empty, not media, has no video stream
    or no decodable frames (e.g. a truncated MP4 whose index is missing).
    """
    data = ffprobe_json(path, "-show_format", "-show_streams")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise ReelsetError(f"{path}: not a decodable video: no video stream (streams: "
                           f"{[s.get('codec_type') for s in streams]})")
    times = frame_times(path)
    if not times:
        raise ReelsetError(f"{path}: not a decodable video: the video stream has no frames")
    sar = _fraction((video.get("sample_aspect_ratio") or "1:1").replace(":", "/")) or Fraction(1)
    width, height = int(video["width"]), int(video["height"])
    display_width = int(round(width * sar / 2)) * 2
    avg = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    if avg is None:
        span = times[-1] - times[0]
        avg = Fraction(len(times) - 1) / Fraction(span) if span > 0 else Fraction(25)
    duration = float(data.get("format", {}).get("duration") or video.get("duration") or
                     (times[-1] - times[0] + 1 / float(avg)))
    others = sorted({s.get("codec_type", "unknown") for s in streams
                     if s.get("codec_type") not in ("video", "audio")})
    info = VideoInfo(
        file=source_name(path),
        container=data.get("format", {}).get("format_name", "unknown"),
        codec=video.get("codec_name", "unknown"),
        width=width, height=height,
        sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}",
        display_width=display_width,
        fps=float(avg), fps_rational=f"{avg.numerator}/{avg.denominator}",
        vfr=is_vfr(times), duration_s=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        other_streams=others,
    )
    return info, times


def resample_cfr(src: Path, dst: Path, fps: Fraction) -> None:
    """Re-time ``src`` to constant ``fps`` (duplicating/dropping frames as ffmpeg's fps
    filter does) into a lossless intermediate ``dst`` (x264 qp 0 + PCM audio, Matroska).

    Used for VFR sources so scene frame indices and clip cuts share one frame grid.
    """
    run_ffmpeg(["-i", str(src), "-map", "0:v:0", "-map", "0:a:0?", "-vf", f"fps={fps.numerator}/{fps.denominator}",
                "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-threads", ENCODER_THREADS,
                "-c:a", "pcm_s16le", *BITEXACT, str(dst)], "resampling to constant frame rate", src)


def cut_clip(src: Path, dst: Path, start_frame: int, frames: int, fps: Fraction,
             width: int, height: int, crf: int, with_audio: bool) -> None:
    """Encode frames ``[start_frame, start_frame + frames)`` of CFR ``src`` to an H.264 MP4.

    The seek point is half a frame before ``start_frame`` so the first kept frame is
    exactly ``start_frame`` (ffmpeg's accurate seek drops frames earlier than it);
    ``-frames:v`` keeps exactly ``frames`` frames. Pixels are made square
    (scale to ``width`` x ``height``, SAR 1:1). Audio (AAC) covers the same time span.
    Subtitle, data and attachment streams are not mapped.
    """
    seek = max(0.0, (start_frame - 0.5) / float(fps))
    duration = frames / float(fps)
    args = ["-ss", f"{seek:.6f}", "-i", str(src), "-map", "0:v:0"]
    if with_audio:
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]
    args += ["-frames:v", str(frames), "-t", f"{duration:.6f}",
             # timestamps restart at 0 and pass through untouched: a CFR muxer would pad the
             # half-frame seek offset by duplicating the first frame (and lose the last one)
             "-vf", f"setpts=PTS-STARTPTS,scale={width}:{height},setsar=1", "-fps_mode", "passthrough",
             "-c:v", "libx264", "-crf", str(crf), "-preset", "medium", "-pix_fmt", "yuv420p",
             "-threads", ENCODER_THREADS, "-sn", "-dn", *BITEXACT, "-movflags", "+faststart", str(dst)]
    run_ffmpeg(args, f"cutting frames {start_frame}-{start_frame + frames}", src)


def thumbnail(src: Path, dst: Path, width: int) -> None:
    """JPEG of the first frame of ``src``, ``width`` pixels wide (even height, square pixels)."""
    run_ffmpeg(["-i", str(src), "-frames:v", "1", "-vf", f"scale={width}:-2", "-q:v", "3", *BITEXACT, str(dst)],
               "making a thumbnail", src)


def count_frames(path: Path) -> int:
    """Number of decoded video frames of ``path`` (ffprobe -count_frames)."""
    data = ffprobe_json(path, "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames")
    return int(data["streams"][0]["nb_read_frames"])


def decode_audio_16k(path: Path) -> np.ndarray:
    """First audio stream of ``path`` as 16 kHz mono float32 samples in [-1, 1], shape (n,).

    Decoded by the ffmpeg CLI (not faster-whisper's PyAV demuxer, which fails on MKV files
    with subtitle streams). Raises ReelsetError when ffmpeg cannot decode it.
    """
    proc = subprocess.run([tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
                           "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
                          capture_output=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{path}: decoding audio failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def program_version(name: str) -> str:
    """First line of ``<name> -version`` (e.g. 'ffmpeg version 5.1.6-0+deb12u1')."""
    proc = subprocess.run([tool(name), "-version"], capture_output=True, text=True)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"
