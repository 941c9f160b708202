"""`reelset export` of step3-stills for every image target, and of a package for ai-toolkit (issue 42):
the file layouts each trainer reads, checked on a step3-stills output and a package made here (real
PNG / ffmpeg media; no Nix, no trainer snapshot: bench/check_trainer_loaders.py runs the trainers' own
loaders over the same exports). Trainer facts: the commits in reelset/export_stills.py and reelset/aitoolkit.py."""

from __future__ import annotations

import csv
import json
import math
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import ffmpeg
from reelset import ReelsetError, aitoolkit, export
from reelset.media import count_frames
from reelset.schemas.manifest import PackagedClip, PackageManifest
from reelset.schemas.stills import Still, StillsArtifact, StillsConfig, StillSet
from reelset.step import write_json
from test_export import check_train_md

TRIGGER = "rsdemo"
# musubi-tuner src/musubi_tuner/dataset/config_utils.py @ 30c658c4: [general] keys and an image [[datasets]]'s
MUSUBI_GENERAL = {"resolution", "caption_extension", "batch_size", "num_repeats", "enable_bucket", "bucket_no_upscale"}
MUSUBI_IMAGE = MUSUBI_GENERAL | {"image_directory", "image_jsonl_file", "cache_directory", "control_directory",
                                 "multiple_target", "fp_latent_window_size", "fp_1f_clean_indices", "fp_1f_target_index",
                                 "fp_1f_no_post", "no_resize_control", "control_resolution"}
# ai-toolkit toolkit/config_modules.py DatasetConfig @ 27a03a91: the keys the exports write
AITK_DATASET = {"folder_path", "caption_ext", "caption_dropout_rate", "resolution", "num_frames", "shrink_video_to_frames",
                "cache_latents_to_disk", "num_repeats", "fps", "do_audio"}


def trigger_count(text: str) -> int:
    return len(re.findall(rf"(?<!\w){TRIGGER}(?!\w)", text))


@pytest.fixture
def stills_out(tmp_path) -> Path:
    """A step3-stills output: Archer 2 stills (landscape 320x180, portrait 200x300), Lana 1, Cyril none."""
    out = tmp_path / "stills-out"
    sets = []
    for name, sizes in (("Archer", [(320, 180), (200, 300)]), ("Lana", [(256, 144)]), ("Cyril", [])):
        stills = []
        for i, (w, h) in enumerate(sizes):
            rel = f"stills/{name}/v1-s000{i + 1}-f00012.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (w, h), (40 * i, 90, 200)).save(out / rel)
            cap = f"{TRIGGER} {name}, a room with a desk; wide shot."
            (out / rel).with_suffix(".txt").write_text(cap + "\n")
            stills.append(Still(character=name, clip_id=f"v1-s000{i + 1}", video_id="v1", frame=12, t_s=0.5 + i, file=rel,
                                caption_file=rel[:-4] + ".txt", caption=cap, width=w, height=h, evidence="reference",
                                shot_type="wide", sharpness=500.0, exposure=0.9, score=0.5 - i / 10, dhash=f"{i:016x}"))
        sets.append(StillSet(character=name, clips=[s.clip_id for s in stills], candidates=12, stills=stills,
                             note=None if stills else "no accepted clip of v1 shows or hears Cyril (…): no stills"))
    write_json(out / "stills.json", StillsArtifact(dataset="t", trigger_word=TRIGGER, config=StillsConfig(), videos=["v1"], sets=sets))
    return out


def exported(stills_out: Path, tmp_path: Path, target: str) -> Path:
    """The export for ``target``; its TRAIN.md's commands name programs a user has and files that exist
    and parse (test_export.check_train_md)."""
    dest = tmp_path / target
    written = export.export(stills_out, dest, target)
    assert all(p.is_file() for p in written) and dest / "TRAIN.md" in written and dest / "README.md" in written
    check_train_md(dest)
    return dest


def check_images(dest: Path, newline: bool = True) -> list[Path]:
    """The copies of the stills: images/<set>/<still>.png, writable files (no links), same-name captions."""
    images = sorted((dest / "images").rglob("*.png"))
    assert [(p.parent.name, p.name) for p in images] == [("Archer", "v1-s0001-f00012.png"), ("Archer", "v1-s0002-f00012.png"),
                                                          ("Lana", "v1-s0001-f00012.png")]
    for p in images:
        assert not p.is_symlink() and p.stat().st_nlink == 1 and p.stat().st_mode & 0o200
        cap = p.with_suffix(".txt").read_text()
        assert trigger_count(cap) == 1 and p.parent.name in cap and cap.endswith("\n") == newline
    assert not (dest / "images" / "Cyril").exists()
    return images


def test_musubi_image_datasets(stills_out, tmp_path):
    dest = exported(stills_out, tmp_path, "musubi")
    check_images(dest)
    cfg = tomllib.loads((dest / "dataset.toml").read_text())
    assert set(cfg["general"]) <= MUSUBI_GENERAL and cfg["general"]["bucket_no_upscale"] is True
    assert [Path(d["image_directory"]).name for d in cfg["datasets"]] == ["Archer", "Lana"]
    caches = [d["cache_directory"] for d in cfg["datasets"]]
    assert len(set(caches)) == len(caches) and all(Path(c).is_dir() for c in caches)  # musubi: unique, per dataset
    for d in cfg["datasets"]:
        assert set(d) <= MUSUBI_IMAGE and Path(d["image_directory"]).is_absolute()
    w, h = cfg["general"]["resolution"]
    assert (w, h) == (192, 288)  # the largest still (200x300), floored to 16


def test_diffusion_pipe_directories(stills_out, tmp_path):
    dest = exported(stills_out, tmp_path, "diffusion-pipe")
    check_images(dest)
    ds = tomllib.loads((dest / "dataset.toml").read_text())
    assert ds["frame_buckets"] == [1] and [Path(d["path"]).name for d in ds["directory"]] == ["Archer", "Lana"]
    assert ds["resolutions"][0] ** 2 <= min(256 * 144, 320 * 180, 200 * 300)  # none upscaled
    assert sorted(map(tuple, ds["ar_buckets"])) == [(200, 300), (256, 144), (320, 180)]
    train = tomllib.loads((dest / "train.toml").read_text())
    assert train["dataset"] == str(dest / "dataset.toml") and train["model"]["type"] == "wan"


def test_diffsynth_metadata(stills_out, tmp_path):
    dest = exported(stills_out, tmp_path, "diffsynth")
    images = check_images(dest)
    rows = list(csv.DictReader((dest / "metadata.csv").open()))
    assert sorted(Path(r["video"]) for r in rows) == images and all(Path(r["video"]).is_absolute() for r in rows)
    assert all(r["prompt"] + "\n" == Path(r["video"]).with_suffix(".txt").read_text() for r in rows)
    assert f"--max_pixels {200 * 300}" in (dest / "TRAIN.md").read_text()  # the largest still: none is shrunk


def test_ltx2_trainer_single_frame_items(stills_out, tmp_path):
    dest = exported(stills_out, tmp_path, "ltx2-trainer")
    images = check_images(dest)
    rows = json.loads((dest / "dataset.json").read_text())
    assert sorted(Path(r["video"]) for r in rows) == images and all(trigger_count(r["caption"]) == 1 for r in rows)
    text = (dest / "TRAIN.md").read_text()
    buckets = re.search(r'--resolution-buckets "([^"]+)"', text).group(1).split(";")
    assert sorted(buckets) == ["192x288x1", "256x128x1", "320x160x1"] and "--skip-audio" in text
    cfg = yaml.safe_load((dest / "training.yaml").read_text())
    assert "audio" not in cfg["training_strategy"] and cfg["optimization"]["batch_size"] == 1


def test_ai_toolkit_image_configs(stills_out, tmp_path):
    dest = exported(stills_out, tmp_path, "ai-toolkit")
    check_images(dest, newline=False)  # ai-toolkit reads the caption file as it is
    for fam, arch in aitoolkit.ARCHES.items():
        cfg = yaml.safe_load((dest / f"config-{fam}.yaml").read_text())
        proc = cfg["config"]["process"][0]
        assert cfg["job"] == "extension" and proc["model"]["arch"] == arch.arch and "trigger_word" not in proc
        assert [Path(d["folder_path"]).name for d in proc["datasets"]] == ["Archer", "Lana"]
        for d in proc["datasets"]:
            assert set(d) <= AITK_DATASET and d["num_frames"] == 1 and d["caption_ext"] == "txt"
            (res,) = d["resolution"]
            assert res % arch.multiple == 0 and res ** 2 >= 200 * 300 and (res - arch.multiple) ** 2 < 200 * 300


def test_the_card_names_empty_sets_and_nothing_to_export_fails(stills_out, tmp_path):
    card = (exported(stills_out, tmp_path, "musubi") / "README.md").read_text()
    assert "| Cyril | 0 | 0 | no accepted clip" in card and "musubi-tuner @ 30c658c" in card
    art = StillsArtifact.model_validate_json((stills_out / "stills.json").read_bytes())
    for s in art.sets:
        s.stills, s.note = [], s.note or "none usable"
    write_json(stills_out / "stills.json", art)
    with pytest.raises(ReelsetError, match="no stills to export"):
        export.export(stills_out, tmp_path / "empty", "ai-toolkit")
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("family", ["ltx2", "wan21"])
def test_ai_toolkit_video_export(tmp_path, family):
    """A package of 3 windows (two of 17 frames, one of 9, all with sound) → videos/<N>f/ folders, one
    dataset each with num_frames N (every frame of each clip), the family's arch and fps; sound only for LTX-2."""
    arch = aitoolkit.ARCHES[family]
    out = tmp_path / "pkg"
    (out / "dataset" / "videos").mkdir(parents=True)
    clips = []
    for i, frames in enumerate((17, 17, 9)):
        item = f"v1-s000{i + 1}-w00"
        rel = f"dataset/videos/{item}.mp4"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=96x64:rate={arch.fps}", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000",
               "-frames:v", str(frames), "-shortest", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out / rel))
        clips.append(PackagedClip(item_id=item, clip_id=f"v1-s000{i + 1}", video_id="v1", fate="kept", window=0, file=rel,
                                  caption=f"{TRIGGER} Archer talks.", caption_source="model", frames=frames, width=96, height=64,
                                  fps=arch.fps))
    write_json(out / "manifest.json", PackageManifest(
        trainer=family, dataset="t", config={"fps": arch.fps}, trigger_word=TRIGGER, trigger_prepended=True,
        package_dir="dataset", files=[], reviewed_accepted=3, reviewed_rejected=0, kept=3, dropped=0,
        frames_written=43, source_frames_trimmed=0, clips=clips))
    dest = tmp_path / "aitk"
    export.export(out, dest, "ai-toolkit")
    proc = yaml.safe_load((dest / "config.yaml").read_text())["config"]["process"][0]
    assert proc["model"]["arch"] == arch.arch and proc["model"]["name_or_path"] == arch.name_or_path
    by_frames = {d["num_frames"]: d for d in proc["datasets"]}
    assert sorted(by_frames) == [9, 17]
    for n, d in by_frames.items():
        files = sorted(Path(d["folder_path"]).glob("*.mp4"))
        assert Path(d["folder_path"]).name == f"{n}f" and len(files) == (2 if n == 17 else 1)
        assert all(count_frames(f) == n for f in files)  # num_frames = the clip's frames: none skipped
        assert all(f.with_suffix(".txt").read_text() == f"{TRIGGER} Archer talks." for f in files)
        assert d["fps"] == arch.fps and d.get("do_audio", False) == (family == "ltx2")
        (res,) = d["resolution"]
        assert res ** 2 >= 96 * 64 and res % arch.multiple == 0  # holds the clip: ai-toolkit keeps its size
    assert aitoolkit.CHECKED in (dest / "TRAIN.md").read_text() and str(dest / "config.yaml") in (dest / "TRAIN.md").read_text()
    assert math.isclose(proc["sample"]["fps"], arch.fps)
