"""step3-ltx2-data and step3-wan21-package on real clips: a reviewed set made from the demo's
step1-scenes clips plus a portrait 24 fps video with a deliberately short shot, one edited
caption and one clip rejected in review; every written clip checked with ffprobe; rebuilds
through Nix (mkStep directly, until step2-reviewed exists) must be bit-identical."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
import re
import shutil
import tomllib
import zipfile
from fractions import Fraction
from pathlib import Path

import orjson
import pytest

from conftest import REPO, ffmpeg, nix, nix_build, report_html, run_tool, scenes_spec
from reelset import ReelsetError, families
from reelset.families.ltx2.config import Ltx2Config
from reelset.families.wan21.config import Wan21Config
from reelset.media import count_frames, ffprobe_json
from reelset.schemas.base import StepMeta
from reelset.schemas.manifest import PackageManifest
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.scenes import ScenesArtifact

TRIGGER = "r3elset"
EDITED = "demo01-s0002"
REJECTED = "demo01-s0004"
SHORT = "v2-s0002"
LTX2_CFG = {"fps": 24, "buckets": ["256x160x49", "160x256x49", "256x160x25", "160x256x25"], "windows": "chunk"}
WAN21_CFG = {"max_frames": 33, "min_frames": 17, "sizes": ["320x192", "192x320"], "windows": "chunk"}


def portrait_video(path: Path) -> Path:
    """270x480 at 24 fps, no audio: shots of 48, 8 (too short for any trainer) and 60 frames."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=270x480:rate=24,trim=end_frame=48",
           "-f", "lavfi", "-i", "smptebars=size=270x480:rate=24,trim=end_frame=8",
           "-f", "lavfi", "-i", "mandelbrot=size=270x480:rate=24,trim=end_frame=60",
           "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]", "-map", "[v]",
           "-c:v", "libx264", "-preset", "ultrafast", str(path))
    return path


def _line(start: float, speaker: str, text: str) -> dict:
    return {"start": start, "end": start + 1.0, "speaker": speaker, "text": text,
            "speaker_source": "voice-unknown" if speaker == "unknown" else "voice"}


# the reviewed dialogue of two demo clips (the demo has sound): EDITED speaks (two lines of Lana,
# then an unknown voice); UNHEARD had speech the ASR step could not put into words
UNHEARD = "demo01-s0003"
DIALOGUE = {EDITED: {"lines": [_line(6.5, "Lana", "Hello  there."), _line(7.6, "Lana", "Sit down."),
                               _line(8.7, "unknown", "Who are you?")]},
            UNHEARD: {"unheard_speech_s": 1.2}}


def reviewed_from_scenes(outs: list[Path], clip_root: Path | None = None) -> dict:
    """reviewed.json data over step1-scenes outputs: all accepted but REJECTED; EDITED carries
    an edited caption. ``clip_root``: folder the clips are referenced in (default: in place)."""
    accepted, rejected = [], []
    for out in outs:
        art = ScenesArtifact.model_validate(orjson.loads((out / "scenes.json").read_bytes()))
        for s in art.scenes:
            if s.clip_id == REJECTED:
                rejected.append({"clip_id": s.clip_id, "video_id": art.video_id, "reasons": ["rejected in review: off-model character"]})
                continue
            edited = s.clip_id == EDITED
            caption = (f"EDITED caption of {s.clip_id}: Lana speaks in the office" if edited
                       else f"model caption of {s.clip_id}, a test pattern shot")
            path = (clip_root / Path(s.clip).name) if clip_root else (out / s.clip)
            accepted.append({"clip_id": s.clip_id, "video_id": art.video_id, "clip_path": str(path),
                             "caption": caption, "caption_source": "edited" if edited else "model",
                             "frame_count": s.frame_count, "fps": art.analysis_fps, "width": s.width,
                             "height": s.height, "start_s": s.start_s, "end_s": s.end_s,
                             "has_audio": art.source.has_audio, "characters": [], **DIALOGUE.get(s.clip_id, {})})
    return ReviewedArtifact.model_validate({"dataset": "t", "trigger_word": TRIGGER, "accepted": accepted,
                                            "rejected": rejected}).model_dump(mode="json")


@pytest.fixture(scope="session")
def scene_outputs(demo_scenes, tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("v2-scenes")
    out = tmp / "out"
    proc = run_tool("step1_scenes.py", scenes_spec(portrait_video(tmp / "v2.mp4"), "v2", min_scene_len_frames=4), out, tmp)
    assert proc.returncode == 0, proc.stderr
    return [demo_scenes, out]


@pytest.fixture(scope="session")
def reviewed_dir(scene_outputs, tmp_path_factory) -> Path:
    """A step2-reviewed-like output folder: reviewed.json over the demo + portrait clips."""
    folder = tmp_path_factory.mktemp("reviewed")
    (folder / "reviewed.json").write_text(json.dumps(reviewed_from_scenes(scene_outputs), indent=2))
    return folder


def package_spec(step: str, reviewed: Path, section: str, cfg: dict) -> dict:
    return {"step": step, "dataset": "t", "device": "cpu", "config": {section: cfg},
            "inputs": {"step2-reviewed": str(reviewed)}}


@pytest.fixture(scope="session")
def ltx2_out(reviewed_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ltx2")
    proc = run_tool("step3_ltx2_data.py", package_spec("step3-ltx2-data", reviewed_dir, "ltx2", LTX2_CFG), tmp / "out", tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


@pytest.fixture(scope="session")
def wan21_out(reviewed_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wan21")
    proc = run_tool("step3_wan_package.py", package_spec("step3-wan21-package", reviewed_dir, "wan21", WAN21_CFG),
                    tmp / "out", tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


def load_manifest(out: Path) -> PackageManifest:
    return PackageManifest.model_validate(orjson.loads((out / "manifest.json").read_bytes()))


def video_stream(path: Path) -> dict:
    data = ffprobe_json(path, "-show_streams")
    streams = data["streams"]
    return {"video": next(s for s in streams if s["codec_type"] == "video"),
            "audio": [s for s in streams if s["codec_type"] == "audio"]}


def check_accounting(m: PackageManifest, reviewed: ReviewedArtifact, sections: bool = False) -> None:
    """Counts add up to the reviewed set; the rejected and the short clip are dropped with
    their reasons; every other clip gives windows (items '<clip>-wNN', in time order, within the
    clip, not overlapping: the default 'chunk'); kept items carry their clip's own (edited)
    caption, by clip id: the reviewed caption after the trigger word, or (``sections``: LTX-2
    ``audio_captions``) its [VISUAL] section."""
    assert m.reviewed_accepted == len(reviewed.accepted) and m.reviewed_rejected == len(reviewed.rejected)
    assert m.kept + m.dropped == len(m.clips) and m.dropped == 2
    assert {c.clip_id for c in m.clips} == {c.clip_id for c in reviewed.accepted} | {c.clip_id for c in reviewed.rejected}
    fates = {c.clip_id: c for c in m.clips if c.fate == "dropped"} | {c.clip_id: c for c in m.clips if c.window == 0}
    for clip in reviewed.accepted:
        items = [c for c in m.clips if c.clip_id == clip.clip_id and c.fate == "kept"]
        assert [c.item_id for c in items] == [f"{clip.clip_id}-w{k:02d}" for k in range(len(items))]
        for a, b in itertools.pairwise(items):
            assert b.start_frame >= a.start_frame + a.frames and b.source_start_frame >= a.source_end_frame
        assert all(c.start_frame + c.frames <= c.available_frames and c.source_end_frame <= c.source_frames for c in items)
    used = {v.video_id: v for v in m.videos}
    for vid in {c.video_id for c in reviewed.accepted}:
        accepted = sum(c.frame_count / c.fps for c in reviewed.accepted if c.video_id == vid)
        packaged = sum((c.source_frames_used or 0) / c.source_fps for c in m.clips if c.fate == "kept" and c.video_id == vid)
        assert used[vid].accepted_s == pytest.approx(accepted, abs=0.01) and used[vid].packaged_s == pytest.approx(packaged, abs=0.01)
    assert fates[REJECTED].fate == "dropped" and fates[REJECTED].reason == "rejected in review: off-model character"
    assert fates[SHORT].fate == "dropped" and fates[SHORT].reason.startswith("too short: ")
    assert {c.clip_id for c in m.clips if c.fate == "dropped"} == {REJECTED, SHORT}
    captions = {c.clip_id: c.caption for c in reviewed.accepted}
    for c in m.clips:
        if c.fate == "kept":
            first = f"{m.trigger_word} [VISUAL]: " if sections else f"{m.trigger_word} "
            assert m.trigger_prepended and c.caption.startswith(first + captions[c.clip_id])  # one policy, every family
            assert ("[SPEECH]" in c.caption) == (sections and c.video_id == "demo01" and c.clip_id != UNHEARD), c.caption
            assert c.source_frames_used == c.source_end_frame - c.source_start_frame > 0
    assert fates[EDITED].caption_source == "edited" and "EDITED caption" in fates[EDITED].caption
    assert m.frames_written == sum(c.frames for c in m.clips if c.fate == "kept")


def reviewed_of(folder: Path) -> ReviewedArtifact:
    return ReviewedArtifact.model_validate(orjson.loads((folder / "reviewed.json").read_bytes()))


def test_ltx2_clips_follow_the_trainer_rules(ltx2_out, reviewed_dir):
    m = load_manifest(ltx2_out)
    check_accounting(m, reviewed_of(reviewed_dir), sections=True)
    assert m.trainer == "ltx2" and m.trigger_prepended and m.kept == 11
    buckets = {tuple(int(v) for v in b.split("x")) for b in LTX2_CFG["buckets"]}
    for c in (c for c in m.clips if c.fate == "kept"):
        path = ltx2_out / c.file
        s = video_stream(path)
        v = s["video"]
        frames = count_frames(path)
        assert frames % 8 == 1 and frames == c.frames, (c.item_id, frames)
        assert int(v["width"]) % 32 == 0 and int(v["height"]) % 32 == 0
        assert (int(v["width"]), int(v["height"]), frames) in buckets and c.bucket == f"{v['width']}x{v['height']}x{frames}"
        assert v["avg_frame_rate"] == "24/1" and v["r_frame_rate"] == "24/1"
        assert (v["width"] > v["height"]) == (c.source_width > c.source_height), "bucket of the clip's orientation"
        assert bool(s["audio"]) == (c.video_id == "demo01")  # the demo has sound, the portrait video none
    items = {c.item_id: c for c in m.clips}
    # 150 frames at 25 fps → 144 at 24 fps → 'chunk': 49 + 49 frames, then the 46 left give a 25-frame window
    d = [items[f"demo01-s0001-w0{k}"] for k in range(3)]
    assert "demo01-s0001-w03" not in items and all(c.available_frames == 144 for c in d)
    assert [(c.start_frame, c.frames, c.bucket, c.source_start_frame, c.source_end_frame) for c in d] == [
        (0, 49, "256x160x49", 0, 51), (49, 49, "256x160x49", 51, 102), (98, 25, "256x160x25", 102, 128)]
    assert m.videos[0].video_id == "demo01" and m.videos[0].used == pytest.approx(3 * 128 / (3 * 150), abs=1e-3)
    # 48 frames at 24 fps: the 49-frame buckets do not fit, so one 25-frame portrait window
    assert items["v2-s0001-w00"].bucket == "160x256x25" and "v2-s0001-w01" not in items
    assert "8 frames at 24 fps" in items[SHORT].reason and "< 25 frames" in items[SHORT].reason
    # audio_captions (default): who says what *inside each window* in the LTX-2 captioner's [SPEECH]
    # section; one name per run of a speaker, an unknown voice unnamed. EDITED starts at 6.0 s: window
    # 0 is 6.00–8.04 s (Lana's first line; her second, 7.6–8.6 s, is cut by the edge: left out),
    # window 1 8.04–10.08 s (the unknown voice, 8.7–9.7 s), window 2 10.08–11.13 s ('None': no speech)
    assert [items[f"{EDITED}-w0{k}"].caption for k in range(3)] == [
        f'{TRIGGER} [VISUAL]: EDITED caption of {EDITED}: Lana speaks in the office [SPEECH]: Lana: "Hello there."',
        f'{TRIGGER} [VISUAL]: EDITED caption of {EDITED}: Lana speaks in the office [SPEECH]: "Who are you?"',
        f'{TRIGGER} [VISUAL]: EDITED caption of {EDITED}: Lana speaks in the office [SPEECH]: None']
    assert [(items[f"{EDITED}-w0{k}"].lines_quoted, items[f"{EDITED}-w0{k}"].lines_cut) for k in range(3)] == [(1, 1), (1, 1), (0, 0)]
    assert items[f"{EDITED}-w00"].speaking_s == {"Lana": pytest.approx(1.0 + 8.0417 - 7.6, abs=0.01)}
    assert items["demo01-s0001-w00"].caption.endswith("a test pattern shot [SPEECH]: None")
    assert items[f"{UNHEARD}-w00"].caption == f"{TRIGGER} [VISUAL]: model caption of {UNHEARD}, a test pattern shot"
    assert items["v2-s0001-w00"].caption == f"{TRIGGER} [VISUAL]: model caption of v2-s0001, a test pattern shot"  # no sound


def test_ltx2_captions_without_audio_are_the_picture_caption(reviewed_dir, tmp_path):
    """`audio_captions = false`, or clips written without sound (`audio = false`): the reviewed
    caption alone after the trigger word, as in the Wan packages."""
    for key in ("audio_captions", "audio"):
        proc = run_tool("step3_ltx2_data.py", package_spec("step3-ltx2-data", reviewed_dir, "ltx2", {**LTX2_CFG, key: False}),
                        tmp_path / key, tmp_path)
        assert proc.returncode == 0, proc.stderr
        m = load_manifest(tmp_path / key)
        check_accounting(m, reviewed_of(reviewed_dir))
        assert m.kept == 11 and not any("[VISUAL]" in c.caption for c in m.clips if c.fate == "kept")


def test_ltx2_metadata_is_joined_by_item_id_with_relative_paths(ltx2_out, reviewed_dir):
    meta_file = ltx2_out / "dataset" / "dataset.json"
    rows = json.loads(meta_file.read_text())
    packaged = {c.item_id: c.caption for c in load_manifest(ltx2_out).clips if c.fate == "kept"}
    kept = list(packaged)
    assert [Path(r["video"]).stem for r in rows] == kept
    for r in rows:
        assert set(r) == {"caption", "video"} and not Path(r["video"]).is_absolute()
        assert (meta_file.parent / r["video"]).is_file()  # the trainer resolves paths against the metadata folder
        assert r["caption"] == packaged[Path(r["video"]).stem]  # the manifest's caption, by item id
    html = report_html(ltx2_out, "step3_ltx2_data.py")
    assert SHORT in html and "too short" in html and "rejected in review: off-model character" in html
    assert "11 items kept · 2 clips dropped" in html and "Used 18.4 s of 22.8 s\nof accepted footage (81 %)" in html and "reelset export result ./ltx2-trainer-dataset --for ltx2-trainer" in html
    assert "--lora-trigger" not in html  # the captions carry the trigger word
    # issue 38 (2): a preview of every kept item beside its caption, made by the report (never the package step)
    previews = sorted(ltx2_out.parent.glob(f"{ltx2_out.name}.report-*/previews/*.jpg"))
    assert {p.stem for p in previews} == set(packaged) and all(f'src="previews/{i}.jpg"' in html for i in packaged)
    assert not (ltx2_out / "previews").exists()
    raw = orjson.loads((ltx2_out / "meta.json").read_bytes())
    meta = StepMeta.model_validate(raw)
    assert "timings_s" not in raw and meta.counts["kept"] == 11 and meta.counts["dropped"] == 2


def test_wan21_clips_follow_the_trainer_rules(wan21_out, reviewed_dir):
    m = load_manifest(wan21_out)
    check_accounting(m, reviewed_of(reviewed_dir))
    assert m.trainer == "wan21" and m.trigger_prepended and m.kept == 11
    for c in (c for c in m.clips if c.fate == "kept"):
        path = wan21_out / c.file
        s = video_stream(path)
        v = s["video"]
        frames = count_frames(path)
        assert frames % 4 == 1 and WAN21_CFG["min_frames"] <= frames <= WAN21_CFG["max_frames"] and frames == c.frames
        assert f"{v['width']}x{v['height']}" in WAN21_CFG["sizes"] and int(v["width"]) % 16 == 0 == int(v["height"]) % 16
        assert v["avg_frame_rate"] == "16/1" and not s["audio"]
        assert (v["width"] > v["height"]) == (c.source_width > c.source_height)
    items = {c.item_id: c for c in m.clips}
    # 96 frames at 16 fps: 33 + 33, then 30 left → 29 (4n+1)
    assert [(items[f"demo01-s0001-w0{k}"].available_frames, items[f"demo01-s0001-w0{k}"].frames) for k in range(3)] == [
        (96, 33), (96, 33), (96, 29)]
    assert (items["v2-s0001-w00"].available_frames, items["v2-s0001-w00"].frames) == (32, 29)  # 4n+1 below 32
    assert "5 frames at 16 fps" in items[SHORT].reason and "min_frames 17" in items[SHORT].reason


WAN_FAMILIES = [f for f in families.every() if f.package_script == "step3_wan_package.py"]


@pytest.mark.parametrize("fam", WAN_FAMILIES, ids=[f.name for f in WAN_FAMILIES])
def test_every_wan_family_packages_by_its_own_rules(fam, reviewed_dir, tmp_path):
    """The one Wan package tool, run as each Wan family's package step (its tiny model's section):
    frames rules.frame_step*n+1, sizes multiples of rules.size_multiple, the family's fps (its
    package config's default), the zip named after the family, the manifest naming it."""
    cfg = fam.tiny.package
    proc = run_tool("step3_wan_package.py", package_spec(fam.package_step, reviewed_dir, fam.name, cfg), tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    m = load_manifest(out)
    check_accounting(m, reviewed_of(reviewed_dir))
    fps = fam.package_config().fps
    assert m.trainer == fam.name and (out / f"{fam.name}_dataset.zip").is_file() and fps == fam.rules.fps
    for c in (c for c in m.clips if c.fate == "kept"):
        v = video_stream(out / c.file)["video"]
        assert count_frames(out / c.file) == c.frames and c.frames % fam.rules.frame_step == 1
        assert int(v["width"]) % fam.rules.size_multiple == 0 == int(v["height"]) % fam.rules.size_multiple
        assert f"{v['width']}x{v['height']}" in cfg["sizes"] and v["avg_frame_rate"] == f"{fps:g}/1"
    # a trainer's config only for the families it trains (reelset.trainers: musubi-tuner has no TI2V-5B task)
    from reelset.trainers import diffusion_pipe, musubi

    assert (out / "dataset" / "musubi_dataset.toml").is_file() == musubi.trains(fam.name) == (fam.name != "wan22")
    assert (out / "dataset" / "diffusion_pipe_dataset.toml").is_file() and diffusion_pipe.trains(fam.name)
    assert sorted(Path(f).name for f in m.files if f.endswith(".toml")) == sorted(p.name for p in (out / "dataset").glob("*.toml"))
    bad = {**cfg, "sizes": [f"{fam.rules.size_multiple + 8}x{fam.rules.size_multiple}"]}
    proc = run_tool("step3_wan_package.py", package_spec(fam.package_step, reviewed_dir, fam.name, bad), tmp_path / "bad", tmp_path)
    assert proc.returncode == 2 and f"must be multiples of {fam.rules.size_multiple}" in proc.stderr and f"[{fam.name}]" in proc.stderr


def test_the_overview_groups_left_out_clips_by_reason_with_their_thumbnails(scene_outputs, reviewed_dir, ltx2_out, tmp_path):
    """Issue 38 item 1: the overview's left-out section (reports/aggregate.py ``left_out``) over an
    overview folder laid out as `all` links its members: the clip rejected in review and the clip
    too short for every bucket, each in its own reason group, with its step1-scenes thumbnail."""
    from reelset.reports.aggregate import LEFT_OUT, left_out
    from reelset.schemas.aggregate import AggregateArtifact, AggregateMember

    (tmp_path / "step1-scenes/shards").mkdir(parents=True)
    for out in scene_outputs:
        vid = ScenesArtifact.model_validate(orjson.loads((out / "scenes.json").read_bytes())).video_id
        (tmp_path / "step1-scenes/shards" / vid).symlink_to(out)
    (tmp_path / "step2-reviewed").symlink_to(reviewed_dir)
    (tmp_path / "step3-ltx2-data").symlink_to(ltx2_out)
    agg = AggregateArtifact(kind="steps", step="pipeline", dataset="t", members=[
        AggregateMember(name=n, link=n, path=str(tmp_path / n)) for n in ("step1-scenes", "step2-reviewed", "step3-ltx2-data")])
    groups = left_out(tmp_path, agg, [("step3-ltx2-data", "step3-ltx2-data", load_manifest(ltx2_out))])
    by_reason = {g["reason"]: g for g in groups}
    assert set(by_reason) == {"rejected in review", "too short"}, groups
    assert [c["clip_id"] for c in by_reason["rejected in review"]["clips"]] == [REJECTED]
    assert by_reason["rejected in review"]["where"] == "step2-reviewed" and by_reason["too short"]["where"] == "step3-ltx2-data"
    assert [c["clip_id"] for c in by_reason["too short"]["clips"]] == [SHORT]
    for g in groups:
        (c,) = g["clips"]
        assert c["thumb"] == f"step1-scenes/shards/{c['video_id']}/thumbs/{c['clip_id']}.jpg" and (tmp_path / c["thumb"]).is_file()
    from reelset.report import _ENV

    html = _ENV.from_string(LEFT_OUT).render(left_out=groups, SHEET=48)
    assert "Left out (2 clips)" in html and "reelset review" in html and html.count("<img ") == 2


@pytest.mark.parametrize("fam", families.every(), ids=families.names())
def test_no_item_is_written_larger_than_its_source_unless_upscale_is_set(fam, reviewed_dir, tmp_path):
    """Issue 38 item 3, each family at its default sizes (960x544 / 832x480 / 1280x704, all larger
    than the 480x270 demo and 270x480 portrait sources): every written item (ffprobe) fits its source
    (scale <= 1), is the configured size scaled to fit the source with each side at a multiple of
    the family's rule next to it (the pair nearest the configured aspect), and names the size it
    was scaled down from; `upscale = true` writes the configured sizes, the
    scale recorded as measured. The documented example: the demo's 480x270 at LTX-2's 960x544 →
    448x256."""
    from reelset.package import SourceClip, fit_size

    m_ = fam.rules.size_multiple
    outs = {}
    for upscale in (False, True):
        out = tmp_path / f"up{upscale}"
        cfg = {"windows": "head", "upscale": upscale}
        proc = run_tool(fam.package_script, package_spec(fam.package_step, reviewed_dir, fam.name, cfg), out, tmp_path)
        assert proc.returncode == 0, proc.stderr
        outs[upscale] = load_manifest(out)
        configured = fam.package_config().model_dump().get("buckets") or fam.package_config().model_dump()["sizes"]
        for c in (c for c in outs[upscale].clips if c.fate == "kept"):
            v = video_stream(out / c.file)["video"]
            w, h = int(v["width"]), int(v["height"])
            assert (w, h) == (c.width, c.height) and w % m_ == 0 == h % m_
            assert c.scale == pytest.approx(max(w / c.source_width, h / c.source_height), abs=1e-3)
            if upscale:
                assert c.scaled_from is None and c.bucket in configured and c.scale > 1
            else:
                assert w <= c.source_width and h <= c.source_height and c.scale <= 1
                cw, ch = (int(x) for x in c.scaled_from.split("x")[:2])
                assert c.scaled_from in configured and c.bucket.startswith(f"{w}x{h}")
                fit = min(c.source_width / cw, c.source_height / ch)  # the configured size scaled to fit the source
                assert abs(w - cw * fit) < m_ and abs(h - ch * fit) < m_  # each side a multiple next to it
                floor = (cw * fit // m_ * m_, ch * fit // m_ * m_)  # both rounded down: never nearer the aspect
                assert abs(math.log(w / h) - math.log(cw / ch)) <= abs(math.log(floor[0] / floor[1]) - math.log(cw / ch)) + 1e-9
    demo = [c for c in outs[False].clips if c.fate == "kept" and c.video_id == "demo01"]
    assert demo and {(c.source_width, c.source_height) for c in demo} == {(480, 270)}
    if fam.name == "ltx2":
        assert {(c.width, c.height) for c in demo} == {(448, 256)}
        upscaled = [c for c in outs[True].clips if c.video_id == "demo01" and c.fate == "kept"]
        assert {(c.width, c.height) for c in upscaled} == {(960, 544)} and {c.scale for c in upscaled} == {round(544 / 270, 4)}
    assert [c.item_id for c in outs[False].clips] == [c.item_id for c in outs[True].clips]  # the same items, other sizes
    small = SourceClip(48, Fraction(24), 160, 120, False)  # 960x544 → 160x90.7: rounding both down gives 160x64 (2.5:1)
    assert fit_size(small, 960, 544, 32, upscale=False) == (160, 96)
    tiny = SourceClip(48, Fraction(24), m_ - 2, m_ * 2, False)  # narrower than one multiple
    reason = fit_size(tiny, m_ * 4, m_ * 2, m_, upscale=False)
    assert reason.startswith(f"too small: source {m_ - 2}x{m_ * 2} would be upscaled") and "upscale = true" in reason
    assert fit_size(tiny, m_ * 4, m_ * 2, m_, upscale=True) == (m_ * 4, m_ * 2)


@pytest.mark.parametrize("fam", families.every(), ids=families.names())
def test_a_familys_variants_are_data_that_share_its_rules(fam):
    """Issue 28: a family's variants (Family.variants) name models of nix/models.toml (the
    checkpoint step4/step5 load, the trainer's files), hold the default variant, and state rules
    equal to the family's (its package serves them all); a variant with other rules is refused."""
    known = tomllib.loads((REPO / "nix" / "models.toml").read_text())
    assert fam.default_model == fam.variant().model == fam.variant(fam.default_variant).model
    for v in fam.variants:
        assert v.model in known and all(m in known for m in v.trainer_models.values()), v
        assert v.source and v.text_encoder
        if v.rules is not None:
            assert (v.rules.frame_step, v.rules.size_multiple, v.rules.fps) == (
                fam.rules.frame_step, fam.rules.size_multiple, fam.rules.fps)
    with pytest.raises(ReelsetError, match="no variant 'nope'"):
        fam.variant("nope")
    other = dataclasses.replace(fam.variants[0], rules=dataclasses.replace(fam.rules, fps=fam.rules.fps + 1))
    with pytest.raises(ReelsetError, match="differ from the family's"):
        dataclasses.replace(fam, variants=(*fam.variants, dataclasses.replace(other, name="other")))


def test_wan21_metadata_sidecars_and_configs(wan21_out):
    m = load_manifest(wan21_out)
    kept = {c.item_id: c for c in m.clips if c.fate == "kept"}
    folder = wan21_out / "dataset"
    with (folder / "metadata.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["video", "prompt"] and len(rows) == len(kept)
    for r in rows:
        item_id = Path(r["video"]).stem
        assert r["prompt"] == kept[item_id].caption and r["prompt"].startswith(TRIGGER + " ")
        assert (folder / r["video"]).is_file()
        assert (folder / r["video"]).with_suffix(".txt").read_text() == r["prompt"] + "\n"
    musubi = tomllib.loads((folder / "musubi_dataset.toml").read_text())
    assert musubi["general"]["caption_extension"] == ".txt" and musubi["datasets"][0]["video_directory"] == "videos"
    assert musubi["datasets"][0]["max_frames"] == WAN21_CFG["max_frames"]
    dp = tomllib.loads((folder / "diffusion_pipe_dataset.toml").read_text())
    assert set(dp["frame_buckets"]) == {1} | {c.frames for c in kept.values()}  # so diffusion-pipe drops none


def test_wan21_zip_unpacks_to_the_folder(wan21_out, tmp_path):
    with zipfile.ZipFile(wan21_out / "wan21_dataset.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        zf.extractall(tmp_path / "unzipped")
    folder = wan21_out / "dataset"
    files = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    unzipped = {p.relative_to(tmp_path / "unzipped"): p.read_bytes() for p in (tmp_path / "unzipped").rglob("*") if p.is_file()}
    assert files == unzipped and len(files) == 11 * 2 + 3


def test_outputs_are_identical_when_run_twice(wan21_out, reviewed_dir, tmp_path):
    """Same bytes again, also with one encode at a time (NIX_BUILD_CORES=1) where the first run
    encoded as many clips at once as this machine has CPUs (>= 2 here and in CI)."""
    from reelset.package import encode_jobs

    assert encode_jobs() >= 2, "this test needs a machine with 2 CPUs to compare 1 and 2 encodes at once"
    proc = run_tool("step3_wan_package.py", package_spec("step3-wan21-package", reviewed_dir, "wan21", WAN21_CFG),
                    tmp_path / "again", tmp_path, env={**os.environ, "NIX_BUILD_CORES": "1"})
    assert proc.returncode == 0, proc.stderr
    first = {p.relative_to(wan21_out): p.read_bytes() for p in wan21_out.rglob("*") if p.is_file()}
    again = {p.relative_to(tmp_path / "again"): p.read_bytes() for p in (tmp_path / "again").rglob("*") if p.is_file()}
    assert first == again


@pytest.mark.parametrize("script,step,section,cfg,fixture", [
    ("step3_ltx2_data.py", "step3-ltx2-data", "ltx2", LTX2_CFG, "ltx2_out"),
    ("step3_wan_package.py", "step3-wan21-package", "wan21", WAN21_CFG, "wan21_out")], ids=["ltx2", "wan21"])
def test_per_video_shards_gathered_give_the_bytes_of_one_process(reviewed_dir, tmp_path, request, script, step, section, cfg, fixture):
    """One shard per video (its own part of reviewed.json: what step2-reviewed's shard writes) encodes
    its clips; the gathering links them and writes the metadata, manifest and zip: every file of
    the output has the bytes of the one-process run (the fixture), clip files as links."""
    one = request.getfixturevalue(fixture)
    whole = orjson.loads((reviewed_dir / "reviewed.json").read_bytes())
    shards = {}
    for vid in sorted({c["video_id"] for c in whole["accepted"] + whole["rejected"]}):
        part = tmp_path / f"reviewed-{vid}"
        part.mkdir()
        own = {**whole, **{k: [c for c in whole[k] if c["video_id"] == vid] for k in ("accepted", "rejected")}}
        (part / "reviewed.json").write_text(json.dumps(own, indent=2))
        shards[vid] = tmp_path / f"shard-{vid}"
        proc = run_tool(script, {**package_spec(step, part, section, cfg), "video_id": vid}, shards[vid], tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert not (shards[vid] / "dataset" / "metadata.csv").exists() and not list(shards[vid].glob("*.zip"))
    spec = package_spec(step, reviewed_dir, section, cfg)
    spec["inputs"] |= {f"shards/{vid}": str(p) for vid, p in shards.items()}
    proc = run_tool(script, spec, tmp_path / "gathered", tmp_path)
    assert proc.returncode == 0, proc.stderr
    gathered = tmp_path / "gathered"
    files = {p.relative_to(gathered): p.read_bytes() for p in gathered.rglob("*") if p.is_file()}
    assert files == {p.relative_to(one): p.read_bytes() for p in one.rglob("*") if p.is_file()}
    clips = list((gathered / "dataset" / "videos").glob("*.mp4"))
    assert clips and all(p.is_symlink() and p.resolve().is_relative_to(tmp_path) for p in clips)


def test_ltx2_metadata_formats(reviewed_dir, tmp_path):
    """JSONL and CSV metadata (ltx-trainer accepts both) hold the same rows as JSON."""
    import step3_ltx2_data as tool

    rows = [{"caption": 'a "quoted", comma caption', "video": "videos/a.mp4"}, {"caption": "b", "video": "videos/b.mp4"}]
    assert tool.write_metadata(tmp_path, "jsonl", rows) == "dataset.jsonl"
    assert [json.loads(line) for line in (tmp_path / "dataset.jsonl").read_text().splitlines()] == rows
    tool.write_metadata(tmp_path, "csv", rows)
    with (tmp_path / "dataset.csv").open(newline="") as f:
        assert list(csv.DictReader(f)) == rows


def test_picture_part_of_an_ltx2_audio_caption():
    from reelset.captiontext import picture_part

    assert picture_part('rsdemo [VISUAL]: Archer  talks. [SPEECH]: Archer: "Hi. [VISUAL] x"') == "rsdemo Archer talks."
    assert picture_part("rsdemo [VISUAL]: a test card") == "rsdemo a test card"
    assert picture_part("[VISUAL]: a card [SOUNDS]: music") == "a card"
    assert picture_part("rsdemo a plain caption [SPEECH] in it") == "rsdemo a plain caption [SPEECH] in it"


def test_trigger_word_is_prepended_once():
    from reelset.captiontext import caption_for

    assert caption_for("a  shot\nof Lana", "rsdemo") == "rsdemo a shot of Lana"
    assert caption_for("rsdemo, a shot", "rsdemo") == "rsdemo a shot"  # already there: not doubled
    assert caption_for("a shot of RSDEMO and rsdemo", "rsdemo") == "rsdemo a shot of and"  # anywhere: once, first
    assert caption_for("rsdemonic shot", "rsdemo") == "rsdemo rsdemonic shot"  # whole words only
    assert caption_for("a shot", None) == "a shot"


@pytest.mark.nix
def test_through_the_pipeline_every_reviewed_clip_is_accounted_for():
    """The demo through nix/pipeline.nix (step2-reviewed → both packaging steps, default
    settings): manifests add up to the demo's reviewed.json; a rebuild is bit-identical."""
    reviewed_out, _ = nix_build(".#host.step2-reviewed")
    reviewed = reviewed_of(reviewed_out)
    for step in ("step3-ltx2-data", "step3-wan21-package"):
        out, _ = nix_build(f".#host.{step}")
        m = load_manifest(out)
        assert m.kept + m.dropped == len(m.clips) and m.kept >= len(reviewed.accepted) - m.dropped + len(reviewed.rejected)
        assert {c.clip_id for c in m.clips} == {c.clip_id for c in reviewed.accepted} | {r.clip_id for r in reviewed.rejected}
        assert {c.clip_id for c in m.clips if c.fate == "dropped"} >= {r.clip_id for r in reviewed.rejected}
        for c in (c for c in m.clips if c.fate == "kept"):
            assert count_frames(out / c.file) == c.frames
        again = nix("build", "--impure", "--no-link", "--rebuild", f".#host.{step}")
        assert again.returncode == 0 and "checking outputs of" in again.stderr, again.stderr


def test_config_rules_are_enforced():
    with pytest.raises(ValueError, match="multiples of 32"):
        Ltx2Config(buckets=["960x540x49"])
    with pytest.raises(ValueError, match="8n\\+1"):
        Ltx2Config(buckets=["960x544x48"])
    with pytest.raises(ValueError, match="is not WxHxF"):
        Ltx2Config(buckets=["960x544"])
    with pytest.raises(ValueError, match="4n\\+1"):
        Wan21Config(max_frames=80)
    with pytest.raises(ValueError, match="multiples of 16"):
        Wan21Config(sizes=["830x480"])
    with pytest.raises(ValueError):
        Ltx2Config(fps=30)


def test_errors_name_the_file(reviewed_dir, tmp_path):
    spec = package_spec("step3-ltx2-data", tmp_path / "nowhere", "ltx2", LTX2_CFG)
    proc = run_tool("step3_ltx2_data.py", spec, tmp_path / "a", tmp_path)
    assert proc.returncode == 2 and f"{tmp_path / 'nowhere' / 'reviewed.json'}: missing artifact" in proc.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    data = json.loads((reviewed_dir / "reviewed.json").read_text())
    data["accepted"][0]["clip_path"] = str(tmp_path / "gone.mp4")
    (broken / "reviewed.json").write_text(json.dumps(data))
    proc = run_tool("step3_wan_package.py", package_spec("step3-wan21-package", broken, "wan21", WAN21_CFG),
                    tmp_path / "b", tmp_path)
    assert proc.returncode == 2 and f"{tmp_path / 'gone.mp4'}: clip demo01-s0001 of reviewed.json does not exist" in proc.stderr
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- Nix
@pytest.fixture(scope="module")
def nix_fixture(scene_outputs, tmp_path_factory) -> tuple[Path, Path]:
    """(clips folder, reviewed folder) for Nix: the clips are added to the store and
    reviewed.json points at their store paths (as step2-reviewed's output will)."""
    root = tmp_path_factory.mktemp("nix-fixture")
    clips = root / "clips"
    clips.mkdir()
    for out in scene_outputs:
        for clip in (out / "clips").glob("*.mp4"):
            shutil.copy(clip, clips / clip.name)
    proc = nix("eval", "--impure", "--raw", "--expr", f'"${{builtins.path {{ path = {clips}; name = "reelset-test-clips"; }}}}"')
    assert proc.returncode == 0, proc.stderr
    reviewed = root / "reviewed"
    reviewed.mkdir()
    (reviewed / "reviewed.json").write_text(json.dumps(reviewed_from_scenes(scene_outputs, Path(proc.stdout)), indent=2))
    return clips, reviewed


def mkstep_expr(step: str, section: str, cfg: dict, clips: Path, reviewed: Path) -> str:
    """A test-only expression: one packaging step through nix/mkStep.nix (host toolchain)
    over the fixture folders, as nix/pipeline.nix would build it from step2-reviewed."""
    spec_cfg = json.dumps({section: cfg})
    return f"""
      let
        toolchain = import {REPO}/nix/toolchains/host.nix {{ lockFile = {REPO}/requirements.lock; }};
        mkStep = import {REPO}/nix/mkStep.nix {{ inherit toolchain; system = builtins.currentSystem; toolsDir = {REPO}/tools; }};
        steps = import {REPO}/nix/steps.nix;
        clips = builtins.path {{ path = {clips}; name = "reelset-test-clips"; }};
        reviewed = builtins.path {{ path = {reviewed}; name = "reelset-test-reviewed"; }};
      in mkStep {{
        step = steps.byName.{step}; name = "reelset-t-{step}";
        spec = {{ step = "{step}"; dataset = "t"; device = "cpu"; config = builtins.fromJSON ''{spec_cfg}'';
                  inputs = {{ step2-reviewed = "${{reviewed}}"; fixture-clips = "${{clips}}"; }}; }};
      }}"""


@pytest.mark.nix
@pytest.mark.parametrize("step,section,cfg", [("step3-ltx2-data", "ltx2", LTX2_CFG),
                                              ("step3-wan21-package", "wan21", WAN21_CFG)])
def test_nix_build_and_rebuild_are_identical(nix_fixture, step, section, cfg):
    expr = mkstep_expr(step, section, cfg, *nix_fixture)
    out, _ = nix_build("--expr", expr)
    m = load_manifest(out)
    assert (m.kept, m.dropped) == (11, 2)
    assert StepMeta.model_validate(orjson.loads((out / "meta.json").read_bytes())).toolchain["name"] == "host"
    again = nix("build", "--impure", "--no-link", "--rebuild", "--expr", expr)
    assert again.returncode == 0, again.stderr  # --rebuild fails when any output byte differs
    assert "checking outputs of" in again.stderr and "may not be deterministic" not in again.stderr


@pytest.mark.parametrize(("script", "step", "section", "cfg"), [
    ("step3_ltx2_data.py", "step3-ltx2-data", "ltx2", LTX2_CFG),
    ("step3_wan_package.py", "step3-wan21-package", "wan21", WAN21_CFG),
])
def test_a_package_that_keeps_no_clip_fails_with_the_reasons(scene_outputs, tmp_path, script, step, section, cfg):
    """Issue 18 / 38: every clip rejected (no review.json applied yet: a first build) → an empty
    package whose report says so, with the counted reasons; accepted clips all too short for the
    trainer → exit 2 and the counted reasons, never an empty dataset with exit 0."""
    data = reviewed_from_scenes(scene_outputs)
    clips = data["accepted"] + data["rejected"]
    data["rejected"] = [{"clip_id": c["clip_id"], "video_id": c["video_id"], "reasons": ["caption empty"]} for c in clips]
    data["accepted"] = []
    folder = tmp_path / "rejected"
    folder.mkdir()
    (folder / "reviewed.json").write_text(json.dumps(data))
    proc = run_tool(script, package_spec(step, folder, section, cfg), tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = load_manifest(tmp_path / "out")
    assert (m.kept, m.dropped, m.reviewed_accepted) == (0, len(clips), 0)
    html = report_html(tmp_path / "out", script)
    assert "No clip accepted yet" in html and html.count("caption empty") == len(clips) and "reelset review" in html

    short = reviewed_from_scenes(scene_outputs)
    short["accepted"] = [c for c in short["accepted"] if c["clip_id"] == SHORT]
    short["review_sha256"] = "0" * 64
    folder = tmp_path / "short"
    folder.mkdir()
    (folder / "reviewed.json").write_text(json.dumps(short))
    proc = run_tool(script, package_spec(step, folder, section, cfg), tmp_path / "out2", tmp_path)
    assert proc.returncode == 2 and "1x too short" in proc.stderr and "1x rejected in review: off-model character" in proc.stderr, \
        proc.stderr
    assert "review.json sha256 000000000000… was applied" in proc.stderr


def test_manifest_keeps_step2_reviewed_reasons_as_they_are():
    """Issue 27 (10): a clip left out by automatic QA is not called "rejected in review", and a
    review rejection does not say so twice."""
    from reelset.package import rejected_entries
    from reelset.schemas.reviewed import RejectedClip

    rv = ReviewedArtifact(dataset="t", accepted=[], rejected=[
        RejectedClip(clip_id="v-s0001", video_id="v", reasons=["rejected in review: blurry"]),
        RejectedClip(clip_id="v-s0002", video_id="v", reasons=["not reviewed; automatic QA: frozen frames", "not reviewed; automatic QA: caption empty"])])
    assert [e.reason for e in rejected_entries(rv)] == [
        "rejected in review: blurry", "not reviewed; automatic QA: frozen frames; not reviewed; automatic QA: caption empty"]


# --------------------------------------------------------------------------- windows (issue 34)
def _clip_with_lines(lines: list[tuple[float, float, str]], seconds: float = 16.0, start_s: float = 100.0):
    from reelset.schemas.reviewed import ReviewedClip

    return ReviewedClip(clip_id="v-s0001", video_id="v", clip_path="/nowhere.mp4", caption="a shot", caption_source="model",
                        frame_count=round(seconds * 24), fps=24.0, width=960, height=544, start_s=start_s,
                        end_s=start_s + seconds, has_audio=True,
                        lines=[{"start": start_s + a, "end": start_s + b, "speaker": who, "text": f"line of {who}",
                                "speaker_source": "voice"} for a, b, who in lines])


def test_window_modes_place_the_windows_musubi_tuner_would_and_dialogue_keeps_lines_whole():
    """A 16 s shot (384 frames at 24 fps) under the LTX-2 default buckets (97/49/25 frames), three
    lines (1.0–3.0 s Lana, 4.5–6.5 s Archer, 14.5–15.8 s Lana): each mode's windows (start, frames),
    and what [SPEECH] of each window says."""
    from fractions import Fraction

    import step3_ltx2_data as tool
    from reelset.package import SourceClip, plan_windows, speech_section

    clip = _clip_with_lines([(1.0, 3.0, "Lana"), (4.5, 6.5, "Archer"), (14.5, 15.8, "Lana")])
    src, fps = SourceClip(384, Fraction(24), 960, 544, True), Fraction(24)

    def place(**keys):
        cfg = Ltx2Config(**keys)
        wins = plan_windows(clip, src, 384, fps, tool.plan(cfg), cfg)
        return [(w.start, w.frames) for w in wins], [speech_section(clip, w.span_s(clip, fps)) for w in wins]

    lana, archer = 'Lana: "line of Lana"', 'Archer: "line of Archer"'
    assert place(windows="head") == ([(0, 97)], [lana])
    # chunk: 3 x 97, then 49 and 25 of the 93 frames left (musubi-tuner would drop them);
    # the last window (14.17–15.21 s) cuts Lana's last line: left out, so no [SPEECH] at all
    assert place(windows="chunk") == ([(0, 97), (97, 97), (194, 97), (291, 49), (340, 25)], [lana, archer, "None", "None", None])
    assert place(windows="slide", frame_stride=96) == ([(0, 97), (96, 97), (192, 97)], [lana, archer, "None"])
    assert place(windows="uniform", frame_sample=3) == ([(0, 97), (143, 97), (287, 97)], [lana, None, lana])
    # dialogue: a window opening 0.25 s before each line, moved earlier until the longest one holds the
    # line and ends before the next line starts (0.46–4.50 s); the last line's window starts early
    # enough to hold it (13.96–16.0 s); the gap between is chunked
    assert place() == place(windows="dialogue") == ([(11, 97), (108, 97), (205, 97), (302, 25), (335, 49)],
                                         [lana, archer, "None", "None", lana])
    assert place(windows="dialogue", max_windows=2) == ([(11, 97), (108, 97)], [lana, archer])
    assert place(windows="chunk", max_windows=1) == ([(0, 97)], [lana])
    short = SourceClip(20, Fraction(24), 960, 544, True)
    assert plan_windows(clip, short, 20, fps, tool.plan(Ltx2Config()), Ltx2Config()).startswith("too short: 20 frames")
    assert Ltx2Config().windows == Wan21Config().windows == "dialogue"
    with pytest.raises(ValueError):
        Ltx2Config(windows="middle")


LISTEN_SHOT_S = 14.0
LISTEN_SHOTS = ["testsrc2", "smptebars", "mandelbrot"]


def listen(path: Path) -> list[str]:
    """Words heard in a packaged item's own sound: the ASR step's code (step2-transcript-base's
    ``transcribe``, faster-whisper tiny.en), normalized."""
    import step2_transcript_base as asr_tool
    from conftest import TINY_EN
    from reelset.device import DevicePolicy
    from reelset.schemas.transcript import AsrConfig
    from reelset.step import Timer
    from speech_scoring import norm

    fields = asr_tool.transcribe(path, TINY_EN, AsrConfig(language="en"), Timer(), DevicePolicy())
    return norm(" ".join(s.text for s in fields["segments"])).split()


def quoted_words(caption: str) -> list[str]:
    """The words a caption's [SPEECH] section quotes (inside double quotes), normalized."""
    from speech_scoring import norm

    speech = caption.split(" [SPEECH]: ", 1)[1] if " [SPEECH]: " in caption else ""
    return norm(" ".join(re.findall(r'"([^"]*)"', speech))).split()


def unheard(quoted: list[str], heard: list[str], ratio: float = 0.7) -> int:
    """Quoted words the item's sound does not contain: each quoted word takes the closest heard word
    left (difflib ratio >= ``ratio``: tiny.en writes 'Carol' as 'Carl', 'Moscow' as 'Mosco'), or
    counts as unheard."""
    import difflib

    left, missing = list(heard), 0
    for word in quoted:
        score, best = max(((difflib.SequenceMatcher(None, word, h).ratio(), h) for h in left), default=(0.0, None))
        if score >= ratio:
            left.remove(best)
        else:
            missing += 1
    return missing


@pytest.fixture(scope="module")
def long_shot_dialogue(tmp_path_factory) -> tuple[Path, list]:
    """A dialogue with long shots, as users film it: three 14 s shots (42 s), four voices taking
    turns, lines read with 0.6 s pauses (espeak-ng); step1-scenes' output and the spoken lines
    with their times (the script: who says what, when — what step2-speakers gave 14/14 right)."""
    from speech_media import VOICES, dialogue_script, make_speech_video

    root = tmp_path_factory.mktemp("long-shots")
    spoken = make_speech_video(dialogue_script(12, VOICES), root / "speech.mp4", pause_s=0.6)
    total = len(LISTEN_SHOTS) * LISTEN_SHOT_S
    ins = [a for s in LISTEN_SHOTS for a in ("-f", "lavfi", "-i", f"{s}=size=320x180:rate=25,trim=end_frame={round(LISTEN_SHOT_S * 25)}")]
    ffmpeg(*ins, "-i", str(root / "speech.mp4"), "-filter_complex",
           f"[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v];[3:a]apad,atrim=0:{total:.3f},aresample=48000[a]",
           "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(root / "talk.mp4"))
    out = root / "scenes"
    proc = run_tool("step1_scenes.py", scenes_spec(root / "talk.mp4", "talk"), out, root)
    assert proc.returncode == 0, proc.stderr
    return out, spoken


NAMES_OF = {"en-us+m3": "Archer", "en-us+f3": "Lana", "en+m1": "Cyril", "en-us+f2": "Malory"}


def listening_figures(out: Path, m: PackageManifest, reviewed: ReviewedArtifact) -> dict:
    """Per package: items, accepted → packaged seconds, and for every kept item the words its
    [SPEECH] quotes that its own sound does not contain; also what the whole-clip [SPEECH] of
    the one-window-per-shot packages (before issue 34) would have quoted against the same sound."""
    from reelset.package import speech_section

    by_clip = {c.clip_id: c for c in reviewed.accepted}
    quoted = missing = before_missing = before_quoted = 0
    for c in (c for c in m.clips if c.fate == "kept"):
        heard = listen(out / c.file)
        q = quoted_words(c.caption)
        quoted, missing = quoted + len(q), missing + unheard(q, heard)
        if c.window == 0:  # the one window the package kept before: [SPEECH] of the whole shot
            whole = quoted_words(f" [SPEECH]: {speech_section(by_clip[c.clip_id])}")
            before_quoted, before_missing = before_quoted + len(whole), before_missing + unheard(whole, heard)
    return {"items": m.kept, "accepted_s": m.accepted_s, "packaged_s": m.packaged_s, "quoted": quoted,
            "unheard": missing, "before_quoted": before_quoted, "before_unheard": before_missing}


@pytest.mark.parametrize("windows", ["chunk", "dialogue", "head"])
def test_every_quoted_word_is_heard_in_its_own_item(long_shot_dialogue, tmp_path, windows):
    """Issue 34 (3), proof by listening: the long-shot dialogue packaged for LTX-2 (default buckets,
    audio captions); each item's own sound transcribed by the ASR step's code. No item quotes a line
    spoken outside its frames (by the script's times), at most 10 % of quoted words are unheard
    (tiny.en mishears some), where quoting the whole shot, as before, leaves more than a third unheard."""
    scenes, spoken = long_shot_dialogue
    art = ScenesArtifact.model_validate(orjson.loads((scenes / "scenes.json").read_bytes()))
    assert len(art.scenes) == 3, [(s.start_s, s.end_s) for s in art.scenes]
    accepted = []
    for s in art.scenes:
        lines = [{"start": ln.start_s, "end": ln.end_s, "speaker": NAMES_OF[ln.voice], "text": ln.text, "speaker_source": "voice"}
                 for ln in spoken if s.start_s <= (ln.start_s + ln.end_s) / 2 < s.end_s]
        accepted.append({"clip_id": s.clip_id, "video_id": "talk", "clip_path": str(scenes / s.clip), "caption": "a test pattern",
                         "caption_source": "model", "frame_count": s.frame_count, "fps": art.analysis_fps, "width": s.width,
                         "height": s.height, "start_s": s.start_s, "end_s": s.end_s, "has_audio": True,
                         "characters": sorted({ln["speaker"] for ln in lines}), "lines": lines})
    folder = tmp_path / "reviewed"
    folder.mkdir()
    reviewed = ReviewedArtifact.model_validate({"dataset": "t", "trigger_word": TRIGGER, "accepted": accepted, "rejected": []})
    (folder / "reviewed.json").write_text(reviewed.model_dump_json())
    proc = run_tool("step3_ltx2_data.py", package_spec("step3-ltx2-data", folder, "ltx2", {"windows": windows}), tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = load_manifest(tmp_path / "out")
    for c in (c for c in m.clips if c.fate == "kept"):
        for ln in spoken:
            if f'"{" ".join(ln.text.split())}"' in c.caption or f'"{ln.text}' in c.caption:
                assert c.start_s - 0.05 <= ln.start_s and ln.end_s <= c.end_s + 0.05, (c.item_id, ln, c.caption)
    fig = listening_figures(tmp_path / "out", m, reviewed)
    print(f"\nlong-shot dialogue, windows={windows}: {fig}")
    # tiny.en on 4 s snippets of espeak-ng speech mishears 20-28 % of quoted words (measured: head, chunk,
    # dialogue); quoting the whole shot, as before, leaves 80-83 % unheard: most of it is not in the item
    assert fig["quoted"] >= 10 and fig["unheard"] <= 0.4 * fig["quoted"], fig
    assert fig["before_unheard"] >= 0.7 * fig["before_quoted"], fig
    assert {"head": 3, "chunk": 10, "dialogue": 10}[windows] <= m.kept
    assert m.packaged_s >= {"head": 12, "chunk": 38, "dialogue": 30}[windows], m.packaged_s


@pytest.mark.nix
def test_demo_items_quote_only_what_their_sound_holds():
    """Issue 34 (3) on the demo through Nix (default [ltx2]: 'dialogue' windows, audio captions): every
    line a packaged item's [SPEECH] quotes lies inside the item's span; of the quoted words, at most
    40 % are unheard in the item's own sound (tiny.en); the whole-shot quoting of before is measured
    against the same sound and leaves more unheard."""
    from reelset.package import line_fate

    reviewed = reviewed_of(nix_build(".#host.step2-reviewed")[0])
    out, _ = nix_build(".#host.step3-ltx2-data")
    m = load_manifest(out)
    assert m.config["windows"] == "dialogue" and m.kept > len(reviewed.accepted)
    by_clip = {c.clip_id: c for c in reviewed.accepted}
    for c in (c for c in m.clips if c.fate == "kept"):
        for ln in by_clip[c.clip_id].lines:
            if f'"{" ".join(ln.text.split())}"' in c.caption:
                assert line_fate(ln, c.start_s, c.end_s) == "inside", (c.item_id, ln)
    fig = listening_figures(out, m, reviewed)
    print(f"\ndemo, windows=dialogue: {fig}")
    assert fig["quoted"] >= 5 and fig["unheard"] <= 0.4 * fig["quoted"], fig
    assert fig["before_unheard"] > fig["unheard"], fig
