"""step1-scenes on the demo video (real media, the tool's CLI): boundaries, frame accuracy, outputs."""

from __future__ import annotations

import subprocess
from itertools import pairwise

import numpy as np
import orjson

from conftest import DEMO_SCRIPT, DEMO_VIDEO, report_html
from reelset.media import count_frames
from reelset.schemas.base import StepMeta
from reelset.schemas.scenes import ScenesArtifact

W, H = 96, 54  # frames are compared as small grayscale images


def gray_frames(path, first: int | None = None, last: int | None = None) -> np.ndarray:
    """Decoded frames ``[first, last]`` of ``path`` as (n, H, W) uint8 (ffmpeg select by frame index)."""
    vf = f"scale={W}:{H},format=gray"
    if first is not None:
        vf = f"select='between(n\\,{first}\\,{last})',{vf}"
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf", vf,
                           "-fps_mode", "passthrough", "-f", "rawvideo", "-"], capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.uint8).reshape(-1, H, W).astype(np.float32)


def load(out) -> ScenesArtifact:
    return ScenesArtifact.model_validate(orjson.loads((out / "scenes.json").read_bytes()))


def test_scene_boundaries_match_the_generated_cuts(demo_scenes):
    art = load(demo_scenes)
    starts = [s.start_frame for s in art.scenes]
    assert len(art.scenes) == len(DEMO_SCRIPT["cut_frames"]) + 1
    assert starts[0] == 0
    for detected, cut in zip(starts[1:], DEMO_SCRIPT["cut_frames"], strict=True):
        assert abs(detected - cut) <= 1, (detected, cut)
    assert art.total_frames == DEMO_SCRIPT["total_frames"]
    assert art.analysis_fps == DEMO_SCRIPT["fps"]
    assert not art.source.vfr and art.source.has_audio


def test_clips_tile_the_video_and_have_the_scene_frame_counts(demo_scenes):
    art = load(demo_scenes)
    assert sum(s.frame_count for s in art.scenes) == art.total_frames
    for prev, nxt in pairwise(art.scenes):
        assert prev.end_frame == nxt.start_frame
    for s in art.scenes:
        clip = demo_scenes / s.clip
        assert count_frames(clip) == s.frame_count, s.clip_id
        assert (demo_scenes / s.thumbnail).stat().st_size > 0


def test_every_clip_frame_is_its_source_frame(demo_scenes):
    """Clip frame j is source frame start+j (not a neighbour): no duplicated, dropped or shifted frame."""
    art = load(demo_scenes)
    source = gray_frames(DEMO_VIDEO)
    assert source.shape[0] == art.total_frames
    for s in art.scenes:
        clip = gray_frames(demo_scenes / s.clip)
        assert clip.shape[0] == s.frame_count
        for j, frame in enumerate(clip):
            k = s.start_frame + j
            dist = {i: float(np.abs(frame - source[i]).mean()) for i in (k - 1, k, k + 1) if 0 <= i < len(source)}
            # re-encoding noise is small; a neighbour is never closer (static shots: equally close)
            assert dist[k] < 4.0, (s.clip_id, j, dist)
            assert dist[k] <= min(dist.values()) + 0.25, (s.clip_id, j, dist)
        if s.start_frame > 0:  # the frame before a cut belongs to the previous shot
            assert float(np.abs(clip[0] - source[s.start_frame - 1]).mean()) > 20, s.clip_id


def test_outputs_meta_and_report(demo_scenes):
    meta = StepMeta.model_validate(orjson.loads((demo_scenes / "meta.json").read_bytes()))
    assert meta.step == "step1-scenes" and meta.shard == "demo01"
    assert meta.counts == {"scenes": 4, "frames": 600}
    assert "timings_s" not in orjson.loads((demo_scenes / "meta.json").read_bytes())  # times: build log only
    html = report_html(demo_scenes, "step1_scenes.py")
    art = load(demo_scenes)
    for s in art.scenes:
        assert f'src="{s.thumbnail}"' in html and f'href="{s.clip}"' in html
    assert "http://" not in html and "https://" not in html


def test_clips_are_reproducible(demo_scenes, tmp_path):
    """Same input, same bytes: fixed encoder threads and bitexact flags."""
    from conftest import run_tool, scenes_spec

    proc = run_tool("step1_scenes.py", scenes_spec(DEMO_VIDEO, "demo01"), tmp_path / "again", tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ["scenes.json", "clips/demo01-s0002.mp4", "thumbs/demo01-s0003.jpg"]:
        assert (tmp_path / "again" / name).read_bytes() == (demo_scenes / name).read_bytes(), name
