"""step3-stills (issue 42): the scoring, choice and captions of reelset.stills on real frames
(ffmpeg lavfi), and the step through Nix on pipelines/demo-lora — and on a copy of it whose review
rejects Cyril's only clip, so one character has no clip."""

from __future__ import annotations

import json
import re
import shutil
from fractions import Fraction
from itertools import combinations
from pathlib import Path

import orjson
import pytest
from PIL import Image

from conftest import REPO, ffmpeg, nix_build
from reelset import media, stills
from reelset.schemas.captions import CAMERA_MOTIONS
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.stills import StillsArtifact
from test_nix import pipeline_expr

DEMO = ".#host.datasets.demo-lora"
MOTION_WORDS = [m for m in CAMERA_MOTIONS if m not in ("unknown", "static", "tracking", "handheld")] + ["camera"]


def test_camera_motion_leaves_a_still_caption():
    text = "rsdemo, Lana as SMPTE HD colour bars, a test pattern; static camera, wide shot."
    assert stills.without_camera_motion("Lana as bars; static camera, wide shot.") == "Lana as bars; wide shot."
    assert stills.without_camera_motion("The camera pans left over a street. A dog sits.") == "A dog sits."
    # a zoom that is the subject stays; one that the camera makes goes
    assert "Mandelbrot set zoom" in stills.without_camera_motion("the Mandelbrot set zoom, slow zoom in.")
    assert "zoom in" not in stills.without_camera_motion("the Mandelbrot set zoom, slow zoom in.")
    cap = stills.still_caption(text, "rsdemo", "Lana")
    assert cap.startswith("rsdemo ") and cap.count("rsdemo") == 1 and "Lana" in cap and "camera" not in cap
    assert stills.still_caption("A desk in an office.", "rsdemo", "Archer") == "rsdemo Archer, A desk in an office."
    assert stills.still_caption("A desk; handheld camera.", "rsdemo", None) == "rsdemo A desk."


def test_choice_drops_near_duplicates_and_frames_too_close():
    c = stills.Candidate
    cands = [c("v1-s0001", "v1", 1.0, 0.9, "ffff0000ffff0000"), c("v1-s0001", "v1", 1.4, 0.8, "0000ffff0000ffff"),
             c("v2-s0001", "v2", 1.0, 0.7, "ffff0000ffff0001"), c("v1-s0002", "v1", 9.0, 0.6, "00ff00ff00ff00ff")]
    kept, dupes, close = stills.choose(cands, 10, 1.0, 4)
    assert [k.score for k in kept] == [0.9, 0.6] and (dupes, close) == (1, 1)
    kept, _, _ = stills.choose(cands, 1, 0.0, 0)
    assert [k.score for k in kept] == [0.9]


def test_measures_on_real_frames_and_square_size(tmp_path):
    """A sharp test card beats its blurred copy; a black frame scores 0; an anamorphic clip's still
    is square by shrinking, never by upscaling."""
    sharp, blurred, black, sar = (tmp_path / f"{n}.mp4" for n in ("sharp", "blurred", "black", "sar"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-pix_fmt", "yuv420p", str(sharp))
    ffmpeg("-i", str(sharp), "-vf", "gblur=sigma=4", "-pix_fmt", "yuv420p", str(blurred))
    ffmpeg("-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=1", "-pix_fmt", "yuv420p", str(black))
    ffmpeg("-i", str(sharp), "-vf", "setsar=4/3", "-pix_fmt", "yuv420p", str(sar))
    a, b, k = (stills.measure(p, 25, 25.0, 320, 240, 2.0) for p in (sharp, blurred, black))
    assert len(a) == len(b) == 2 and [f.index for f in a] == [6, 18]
    assert all(x.sharpness > 4 * y.sharpness for x, y in zip(a, b, strict=True))
    assert all(stills.score("reference", "close-up", f.sharpness, f.exposure) == 0 for f in k)
    assert stills.score("speaks", "wide", 500, 1.0) < stills.score("caption", "wide", 500, 1.0) < stills.score("caption", "close-up", 500, 1.0)
    info, _ = media.probe_video(sar)
    assert stills.square_size(info) == (320, 180)  # 320x240 at SAR 4:3 is 427x240 shown: the height shrinks
    # a clip step1-scenes widened from an anamorphic source (720x480 at 32:27 → 854x480) shrinks back to the
    # source's 720 columns; a narrowed one (SAR 8:9 → 640x480) and a quarter-turned 4:3 source stay as they are
    wide, _ = media.probe_video(sharp)
    wide = wide.model_copy(update={"width": 854, "height": 480})
    assert stills.square_size(wide, Fraction(32, 27)) == (720, 405)
    assert stills.square_size(wide.model_copy(update={"width": 640}), Fraction(8, 9)) == (640, 480)
    assert stills.square_size(wide, Fraction(4, 3), 90) == (854, 480)


def check_stills(out: Path, reviewed: ReviewedArtifact) -> StillsArtifact:
    """What a trainer reads of step3-stills' output, checked against reviewed.json and its own rules."""
    art = StillsArtifact.model_validate(orjson.loads((out / "stills.json").read_bytes()))
    clips = {c.clip_id: c for c in reviewed.accepted}
    trigger = art.trigger_word
    assert trigger
    for s in art.sets:
        assert len(s.stills) <= art.config.per_character
        if not s.stills:
            assert s.note, s.character
        folder = {Path(st.file).parent for st in s.stills}
        assert len(folder) <= 1
        for a, b in combinations(s.stills, 2):
            assert stills.hamming(a.dhash, b.dhash) > art.config.max_duplicate_bits
            assert a.video_id != b.video_id or abs(a.t_s - b.t_s) >= art.config.min_gap_s
        assert [st.score for st in s.stills] == sorted((st.score for st in s.stills), reverse=True)
        for st in s.stills:
            clip = clips[st.clip_id]
            with Image.open(out / st.file) as im:
                # full source size in square pixels, never upscaled (demo clips are square already)
                assert im.size == (st.width, st.height) == (clip.width, clip.height), st.file
                assert im.format == "PNG"
            cap = (out / st.caption_file).read_text(encoding="utf-8")
            assert cap == st.caption + "\n" and cap.count("\n") == 1
            assert len(re.findall(rf"(?<!\w){re.escape(trigger)}(?!\w)", cap)) == 1 and cap.startswith(trigger)
            assert re.search(rf"(?<!\w){re.escape(s.character)}(?!\w)", cap), cap
            assert not any(m in cap.lower() for m in MOTION_WORDS), cap
    return art


def reviewed_of(out: Path) -> ReviewedArtifact:
    return ReviewedArtifact.model_validate(orjson.loads((out / "reviewed.json").read_bytes()))


@pytest.mark.nix
def test_stills_of_the_demo_through_nix():
    """pipelines/demo-lora's [stills]: a set per bible character; counts follow from the clips."""
    out, _ = nix_build(f"{DEMO}.step3-stills")
    reviewed = reviewed_of(nix_build(f"{DEMO}.step2-reviewed.data")[0])
    art = check_stills(out, reviewed)
    assert [s.character for s in art.sets] == ["Archer", "Lana", "Cyril", "Malory"]
    by = {s.character: s for s in art.sets}
    # every character has a reference shot in an accepted clip: the reference frame's clip is a candidate
    for name in by:
        assert by[name].clips, name
    assert sum(len(s.stills) for s in art.sets) == json.loads((out / "meta.json").read_text())["counts"]["stills"] > 0
    # the report: one contact sheet per non-empty set, none wider than 1280 px
    for s in art.sets:
        sheet = out / "sheets" / f"{s.character}.jpg"
        assert sheet.is_file() == bool(s.stills)
        if s.stills:
            with Image.open(sheet) as im:
                assert im.width <= 1280
    assert "Malory" in (out / "index.html").read_text()


def demo_lora_copy(tmp_path: Path, reject: str | None = None, stills: str | None = None) -> Path:
    """A copy of pipelines/demo-lora (same name and files, so its upstream outputs are reused) whose
    review also rejects clip ``reject`` and whose ``[stills]`` section is ``stills`` when given."""
    root = tmp_path / "pipelines"
    (root / "demo").mkdir(parents=True)
    for f in ("demo.mp4", "bible.yaml"):
        shutil.copy(REPO / "pipelines" / "demo" / f, root / "demo" / f)
    review = json.loads((REPO / "pipelines" / "demo" / "review.json").read_text())
    if reject:
        review["decisions"][reject] |= {"action": "reject", "reason": "test: leave the clip out"}
    (root / "demo" / "review.json").write_text(json.dumps(review))
    (root / "demo-lora").mkdir()
    toml = (REPO / "pipelines" / "demo-lora" / "dataset.toml").read_text()
    if stills is not None:
        toml = toml[: toml.index("[stills]")] + stills
    (root / "demo-lora" / "dataset.toml").write_text(toml)
    return root / "demo-lora"


@pytest.mark.nix
def test_a_character_without_a_clip_gets_no_stills_and_the_report_says_so(tmp_path):
    """demo01-s0003 is Cyril's only clip (his reference shot and his line): rejected, no Cyril stills."""
    ds = demo_lora_copy(tmp_path, reject="demo01-s0003")
    out, _ = nix_build("--expr", pipeline_expr(ds, "step3-stills"))
    reviewed = reviewed_of(nix_build("--expr", pipeline_expr(ds, "step2-reviewed.data"))[0])
    assert "demo01-s0003" not in {c.clip_id for c in reviewed.accepted}
    art = check_stills(out, reviewed)
    cyril = next(s for s in art.sets if s.character == "Cyril")
    assert not cyril.stills and not cyril.clips and "no accepted clip" in cyril.note and "Cyril" in cyril.note
    assert not (out / "stills" / "Cyril").exists()
    assert cyril.note in (out / "index.html").read_text()
    assert any(s.stills for s in art.sets)  # the others still have theirs


@pytest.mark.nix
def test_a_general_style_set_in_jpeg(tmp_path):
    """``characters = []``: one set of the best frames of every accepted clip, captions without a name."""
    ds = demo_lora_copy(tmp_path, stills='[stills]\ncharacters = []\nper_character = 3\nformat = "jpg"\n')
    out, _ = nix_build("--expr", pipeline_expr(ds, "step3-stills"))
    reviewed = reviewed_of(nix_build(f"{DEMO}.step2-reviewed.data")[0])
    art = StillsArtifact.model_validate(orjson.loads((out / "stills.json").read_bytes()))
    (style,) = art.sets
    assert style.character == "style" and style.clips == [c.clip_id for c in reviewed.accepted]
    assert 1 <= len(style.stills) <= 3 and all(st.evidence == "style" for st in style.stills)
    clips = {c.clip_id: c for c in reviewed.accepted}
    for st in style.stills:
        with Image.open(out / st.file) as im:
            assert im.format == "JPEG" and im.size == (clips[st.clip_id].width, clips[st.clip_id].height)
        cap = (out / st.caption_file).read_text()
        assert cap.startswith(f"{art.trigger_word} ") and cap.count(art.trigger_word) == 1
        assert not any(m in cap.lower() for m in MOTION_WORDS), cap
