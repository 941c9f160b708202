"""media.cut_clips (one decode, one encode for all clips of a video) on real media made by ffmpeg:
more than 100 clips (ffmpeg's expression evaluator fails on flat sums of > 100 terms), gaps
between ranges, every frame of every clip identified, audio length, thumbnails, same bytes twice."""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction

import av
import numpy as np
import pytest

from conftest import ffmpeg
from reelset import ReelsetError, media

FPS = 25
FRAMES = 700
PERIOD = 220  # gcd(37, 220) = 1: frame n has luma 16 + 37n mod 220, unique within 220 frames


def luma(n: int) -> float:
    """Full-range gray level of frame n as decoded (limited-range Y 16 + 37n mod 220, scaled by 255/219)."""
    return (37 * n) % PERIOD * 255 / 219


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    """700 frames (28 s) of 64x48 flat gray whose level encodes the frame number, H.264 with one
    keyframe per 250 frames (cuts fall mid-GOP), anamorphic SAR 4:3, with a 440 Hz tone."""
    out = tmp_path_factory.mktemp("numbered") / "numbered.mp4"
    ffmpeg("-f", "lavfi", "-i", f"nullsrc=s=64x48:r={FPS},trim=end_frame={FRAMES},"
           f"geq=lum='16+mod(N*37\\,{PERIOD})':cb=128:cr=128,setsar=4/3",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={FRAMES / FPS}",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-g", "250", "-keyint_min", "250",
           "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out))
    return out


def levels(path) -> list[float]:
    """Mean luma of every decoded video frame of ``path`` (PyAV, display order)."""
    with av.open(str(path)) as box:
        return [float(f.to_ndarray(format="gray").mean()) for f in box.decode(video=0)]


def audio_seconds(path) -> float:
    with av.open(str(path)) as box:
        return sum(f.samples for f in box.decode(audio=0)) / 48000


def cut(src, ranges, out, thumbs=True):
    clips = [out / f"c{i:03d}.mp4" for i in range(len(ranges))]
    jpgs = [out / f"c{i:03d}.jpg" for i in range(len(ranges))] if thumbs else None
    out.mkdir()
    media.cut_clips(src, ranges, clips, jpgs, Fraction(FPS), 64, 48, 17, "veryfast", True, 32)
    return clips, jpgs


def test_over_100_clips_every_frame_is_its_source_frame(numbered, tmp_path):
    rng = random.Random(15)
    bounds = [0]
    while bounds[-1] < FRAMES:
        bounds.append(min(FRAMES, bounds[-1] + rng.randint(3, 8)))
    ranges = list(zip(bounds, bounds[1:], strict=False))
    assert len(ranges) > 100
    clips, jpgs = cut(numbered, ranges, tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in clips + jpgs)
    for clip, jpg, (start, end) in zip(clips, jpgs, ranges, strict=True):
        got = levels(clip)
        assert len(got) == end - start, clip.name
        # levels of neighbouring frames differ by >= 43; x264 CRF 17 on flat frames is within 2
        assert np.abs(np.array(got) - [luma(n) for n in range(start, end)]).max() < 4, (clip.name, got[:3])
        assert abs(levels(jpg)[0] - luma(start)) < 4, jpg.name
        # audio is cut at AAC packet granularity (1024 samples = 21.3 ms): within 2 packets
        assert abs(audio_seconds(clip) - (end - start) / FPS) < 0.043, clip.name
    with av.open(str(clips[0])) as box:
        stream = box.streams.video[0]
        assert (stream.width, stream.height) == (64, 48) and stream.sample_aspect_ratio in (None, Fraction(1))
    again, again_jpgs = cut(numbered, ranges, tmp_path / "b")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in clips + jpgs]
    assert digest == [hashlib.sha256(p.read_bytes()).hexdigest() for p in again + again_jpgs]


def test_gaps_are_not_kept_and_order_is_the_callers(numbered, tmp_path):
    ranges = [(300, 420), (10, 72), (100, 197)]
    clips, jpgs = cut(numbered, ranges, tmp_path / "g")
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == sorted(p.name for p in clips + jpgs)
    for clip, (start, end) in zip(clips, ranges, strict=True):
        got = levels(clip)
        assert len(got) == end - start
        assert abs(got[0] - luma(start)) < 4 and abs(got[-1] - luma(end - 1)) < 4, clip.name
        assert abs(audio_seconds(clip) - (end - start) / FPS) < 0.043, clip.name


def test_ranges_past_the_end_fail_clearly(numbered, tmp_path):
    with pytest.raises(ReelsetError, match="numbered.mp4: not a decodable video: .*fewer frames"):
        cut(numbered, [(0, 100), (100, FRAMES + 50)], tmp_path / "long", thumbs=False)
    with pytest.raises(ReelsetError, match="disjoint"):
        cut(numbered, [(0, 100), (90, 200)], tmp_path / "overlap", thumbs=False)
