"""`reelset export` (issue 14) on the demo's packages built through Nix, checked the way each
trainer reads its input (facts from the trainers' sources, commits in tools/reelset/export.py),
and the LTX-2 trainer's precomputed format of step4-ltx2-preprocess checked with a reader that
mirrors ltx-trainer's ``PrecomputedDataset`` (Lightricks/LTX-2 @ 400fd310…,
``packages/ltx-trainer/src/ltx_trainer/datasets.py``, ``trainer.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import orjson
import pytest
import torch
import yaml

from conftest import PYTHON, REPO, ffmpeg, nix_build, trainer_module
from reelset import ReelsetError, export, families, train
from reelset.families.ltx2 import model as ltx2
from reelset.media import count_frames, probe_video
from reelset.schemas.base import ModelRef
from reelset.schemas.latents import LatentClip, LatentIndex
from reelset.schemas.manifest import PackagedClip, PackageManifest

VIDEO_EXT = {".mp4", ".webm", ".avi", ".mkv", ".mov", ".flv", ".wmv", ".m4v", ".mpg", ".mpeg"}  # musubi glob_videos

# ltx-trainer src/ltx_trainer/config.py @ 400fd310: every model has extra="forbid"; the keys of the sections we write
LTX2_KEYS = {
    None: {"model", "lora", "training_strategy", "optimization", "acceleration", "data", "validation", "checkpoints",
           "hub", "flow_matching", "wandb", "seed", "output_dir"},
    "model": {"model_path", "text_encoder_path", "video_vae_path", "audio_vae_path", "training_mode", "load_checkpoint"},
    "lora": {"rank", "alpha", "dropout", "target_modules"},
    "optimization": {"learning_rate", "steps", "batch_size", "gradient_accumulation_steps", "max_grad_norm",
                     "optimizer_type", "scheduler_type", "scheduler_params", "enable_gradient_checkpointing"},
    "acceleration": {"mixed_precision_mode", "quantization", "load_text_encoder_in_8bit",
                     "offload_optimizer_during_validation"},
    "data": {"preprocessed_data_root", "num_dataloader_workers"},
    "checkpoints": {"interval", "keep_last_n", "precision", "no_resume", "save_training_state"},
}
# musubi-tuner src/musubi_tuner/dataset/config_utils.py @ 30c658c4: keys of [general] and of a video [[datasets]]
MUSUBI_GENERAL = {"resolution", "caption_extension", "batch_size", "num_repeats", "enable_bucket", "bucket_no_upscale"}
MUSUBI_VIDEO = MUSUBI_GENERAL | {"video_directory", "video_jsonl_file", "control_directory", "cache_directory",
                                 "target_frames", "frame_extraction", "frame_stride", "frame_sample", "max_frames",
                                 "source_fps", "fp_latent_window_size"}
# diffusion-pipe utils/dataset.py @ 8f83dbf2: suffixes that are not media
DP_NOT_MEDIA = {".txt", ".npz", ".json", ".parquet", ".bak", ".db"}


@pytest.fixture(scope="session")
def demo_outputs() -> dict[str, Path]:
    """Every export source (export.SOURCES, from the families' declarations) through Nix: the demo's
    packages (pipelines/demo: the package steps in its `all`) and otherwise the demo-lora's outputs
    (the same video; latents with the tiny models; a package step `all` leaves out, by name, with its
    defaults: built for demo-lora, so the demo's store state stays that of its `all`)."""
    in_demo = {f.package_step for f in families.every() if f.in_all}
    return {kind: nix_build(f".#host.{kind}" if kind in in_demo else f".#host.datasets.demo-lora.{kind}")[0]
            for kind in export.SOURCES}


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, str]:
    """Stand-ins for the base-model paths the user passes (files that exist)."""
    root = tmp_path_factory.mktemp("models")
    (root / "ckpt.safetensors").write_bytes(b"")
    (root / "gemma").mkdir()
    return {"model_path": str(root / "ckpt.safetensors"), "text_encoder_path": str(root / "gemma")}


def run_export(result: Path, dest: Path, target: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(REPO / "bin" / "reelset"), "export", str(result), str(dest), "--for", target,
                           *extra], capture_output=True, text=True)


@pytest.fixture(scope="session")
def exported(demo_outputs, models, tmp_path_factory) -> dict[str, Path]:
    """Every export target from the demo outputs, through bin/reelset."""
    root = tmp_path_factory.mktemp("exports")
    flags = ["--model-path", models["model_path"], "--text-encoder-path", models["text_encoder_path"]]
    out = {}
    for kind, targets in export.SOURCES.items():
        for target in targets:
            dest = root / f"{kind}-{target}"
            proc = run_export(demo_outputs[kind], dest, target, *(flags if target == "ltx2-trainer" else []))
            assert proc.returncode == 0, proc.stderr
            assert "TRAIN.md" in proc.stdout
            out[f"{kind}:{target}"] = dest
    return out


def trigger_of(demo_outputs) -> str:
    m = PackageManifest.model_validate(orjson.loads((demo_outputs["step3-ltx2-data"] / "manifest.json").read_bytes()))
    assert m.trigger_word
    return m.trigger_word


def assert_trigger_once(caption: str, trigger: str) -> None:
    assert len(re.findall(rf"(?<!\w){re.escape(trigger)}(?!\w)", caption)) == 1, caption


def assert_media(path_text: str, dest: Path) -> Path:
    """An absolute path to an existing regular file inside the export (a copy, never a link to the store)."""
    path = Path(path_text)
    assert path.is_absolute() and path.is_file() and not path.is_symlink(), path
    assert dest in path.parents, path
    assert path.stat().st_nlink == 1 and path.stat().st_mode & 0o200, path  # issue 27: not a hard link, writable
    return path


def assert_writable(folder: Path) -> None:
    assert folder.is_dir() and os.access(folder, os.W_OK)
    probe = folder / ".write-test"
    probe.write_text("x")
    probe.unlink()


def check_keys(data: dict, allowed: dict) -> None:
    assert set(data) <= allowed[None], set(data) - allowed[None]
    for section, keys in allowed.items():
        if section and section in data:
            assert set(data[section]) <= keys, (section, set(data[section]) - keys)


# --------------------------------------------------------------------------- LTX-2 trainer
@pytest.mark.nix
def test_ltx2_trainer_export_of_the_package(exported, demo_outputs, models):
    dest = exported["step3-ltx2-data:ltx2-trainer"]
    trigger = trigger_of(demo_outputs)
    m = PackageManifest.model_validate(orjson.loads((demo_outputs["step3-ltx2-data"] / "manifest.json").read_bytes()))
    rows = json.loads((dest / "dataset.json").read_text())  # process_videos.py: json.load, a list of objects
    assert isinstance(rows, list) and len(rows) == m.kept and set(rows[0]) == {"caption", "video"}
    card = (dest / "README.md").read_text()  # issue 38 (2): a dataset card in every export
    assert f"{m.kept} training items" in card and f"{m.packaged_s:.1f} s of footage used of {m.accepted_s:.1f} s accepted" in card
    # the episodes with the hash of the committed file, the models that made the text with their pins (from Nix,
    # through the package report's card.json), the written sizes: none upscaled (issue 38 item 3)
    sha = hashlib.sha256((REPO / "pipelines/demo/demo.mp4").read_bytes()).hexdigest()
    assert f"| demo01 | demo.mp4 | `{sha}` | {m.videos[0].accepted_s:.1f} |" in card and "Lightricks/LTX-2 @ 400fd31" in card
    assert "| step2-caption | vlm | tiny-qwen2.5-vl |" in card and "| step2-speakers | speakers | resemblyzer-ge2e |" in card
    assert "| 480x270 | 448x256 | 960x544x97 |" in card and "No item is upscaled" in card
    assert f"trigger word `{trigger}`" in card and "Licence" in card
    # the buckets the items were written at (scaled down to the 480x270 source from the configured 960x544)
    buckets = sorted({(c.width, c.height, c.frames) for c in m.clips if c.fate == "kept"})
    assert all(c.scale <= 1 and c.scaled_from in m.config["buckets"] for c in m.clips if c.fate == "kept")
    for row in rows:
        path = assert_media(row["video"], dest)
        info, _ = probe_video(path)
        frames = count_frames(path)
        # ltx-trainer parse_resolution_buckets: W, H multiples of 32, F % 8 == 1; one bucket matches exactly
        assert info.width % 32 == 0 and info.height % 32 == 0 and frames % 8 == 1
        assert (info.width, info.height, frames) in buckets
        assert_trigger_once(row["caption"], trigger)
    assert_writable(dest / ".precomputed")
    cfg = yaml.safe_load((dest / "training.yaml").read_text())
    check_keys(cfg, LTX2_KEYS)
    assert cfg["model"]["model_path"] == models["model_path"] and Path(cfg["model"]["model_path"]).is_file()
    assert cfg["data"]["preprocessed_data_root"] == str(dest / ".precomputed")
    assert cfg["validation"]["video_dims"] in [list(b) for b in buckets]
    text = (dest / "TRAIN.md").read_text()
    written = {c.scaled_from or c.bucket: c.bucket for c in m.clips if c.fate == "kept"}  # configured → written
    assert f'--resolution-buckets "{";".join(written[b] for b in m.config["buckets"] if b in written)}"' in text
    assert f"--output-dir {dest / '.precomputed'}" in text and "--lora-trigger" not in text.split("```sh")[1]
    assert trigger in text


@pytest.mark.nix
def test_ltxv_trainer_export_has_one_dataset_file_per_bucket(exported, demo_outputs):
    dest = exported["step3-ltx2-data:ltxv-trainer"]
    trigger = trigger_of(demo_outputs)
    files = sorted(dest.glob("dataset-*.json"))
    assert files
    for f in files:
        bucket = tuple(int(v) for v in f.stem.removeprefix("dataset-").split("x"))
        for row in json.loads(f.read_text()):
            assert set(row) == {"caption", "media_path"}  # its --video-column default
            assert not Path(row["media_path"]).is_absolute()  # issue 27: relative to the dataset file (see below)
            path = assert_media(str(f.parent / row["media_path"]), dest)
            info, _ = probe_video(path)
            assert (info.width, info.height, count_frames(path)) == bucket
            assert_trigger_once(row["caption"], trigger)
            assert "[VISUAL]" not in row["caption"] and "[SPEECH]" not in row["caption"]  # LTX-Video 0.9: no sound
        assert f"--resolution-buckets {f.stem.removeprefix('dataset-')}" in (dest / "TRAIN.md").read_text()
        assert_writable(dest / f".precomputed-{f.stem.removeprefix('dataset-')}")
    assert "--id-token" not in (dest / "TRAIN.md").read_text().split("```sh")[1]


# --------------------------------------------------------------------------- Wan 2.1 trainers
def check_wan_clip(path: Path, sizes: set[tuple[int, int]], trigger: str) -> int:
    info, _ = probe_video(path)
    frames = count_frames(path)
    assert frames % 4 == 1 and info.width % 16 == 0 and info.height % 16 == 0
    assert (info.width, info.height) in sizes
    return frames


def wan_sizes(demo_outputs) -> set[tuple[int, int]]:
    """The sizes the Wan package's items were written at (no larger than their source: issue 38 item 3)."""
    m = PackageManifest.model_validate(orjson.loads((demo_outputs["step3-wan21-package"] / "manifest.json").read_bytes()))
    kept = [c for c in m.clips if c.fate == "kept"]
    assert kept and all(c.width <= c.source_width and c.height <= c.source_height for c in kept)
    return {(c.width, c.height) for c in kept}


@pytest.mark.nix
def test_musubi_export(exported, demo_outputs):
    dest = exported["step3-wan21-package:musubi"]
    trigger = trigger_of(demo_outputs)
    cfg = tomllib.loads((dest / "dataset.toml").read_text())
    assert set(cfg) == {"general", "datasets"} and set(cfg["general"]) <= MUSUBI_GENERAL
    (ds,) = cfg["datasets"]
    assert set(ds) <= MUSUBI_VIDEO
    # musubi-tuner keeps an item at its own size (rounded down to 16) only with bucket_no_upscale and an area
    # within `resolution`'s (dataset/bucket.py BucketSelector.get_bucket_resolution); else it resizes to that area
    assert cfg["general"]["bucket_no_upscale"] is True
    assert tuple(cfg["general"]["resolution"]) == max(wan_sizes(demo_outputs), key=lambda s: s[0] * s[1])
    videos, cache = Path(ds["video_directory"]), Path(ds["cache_directory"])
    assert videos.is_absolute() and cache.is_absolute() and videos.is_dir()
    assert_writable(cache)
    clips = [p for p in videos.iterdir() if p.suffix.lower() in VIDEO_EXT]  # non-recursive, as musubi globs
    assert clips
    for clip in clips:
        assert_media(str(clip), dest)
        frames = check_wan_clip(clip, wan_sizes(demo_outputs), trigger)
        assert frames <= ds["max_frames"]  # frame_extraction "full": min(frames, max_frames) → all of them
        assert_trigger_once(clip.with_suffix(cfg["general"]["caption_extension"]).read_text().strip(), trigger)
    assert str(dest / "dataset.toml") in (dest / "TRAIN.md").read_text()


@pytest.mark.nix
def test_diffusion_pipe_export(exported, demo_outputs):
    dest = exported["step3-wan21-package:diffusion-pipe"]
    trigger = trigger_of(demo_outputs)
    main = tomllib.loads((dest / "train.toml").read_text())
    ds_file = Path(main["dataset"])
    assert ds_file.is_absolute() and ds_file.is_file() and Path(main["output_dir"]).is_absolute()
    assert main["model"]["type"] == "wan" and main["adapter"]["type"] == "lora"
    assert main["model"]["ckpt_path"].startswith("<")  # a placeholder the user fills
    ds = tomllib.loads(ds_file.read_text())
    (directory,) = ds["directory"]
    videos = Path(directory["path"])
    assert videos.is_absolute() and videos.is_dir()
    assert_writable(videos)  # its cache goes to <path>/cache/wan
    media_files = [p for p in videos.iterdir() if p.is_file() and p.suffix not in DP_NOT_MEDIA]
    assert media_files and all(p.suffix == ".mp4" for p in media_files)  # nothing else taken for media
    for clip in media_files:
        frames = check_wan_clip(clip, wan_sizes(demo_outputs), trigger)
        assert frames in ds["frame_buckets"]
        assert_trigger_once(clip.with_suffix(".txt").read_text().strip(), trigger)


@pytest.mark.nix
def test_diffsynth_export_loads_through_its_dataset(exported, demo_outputs):
    """DiffSynth-Studio's own UnifiedDataset (diffsynth 2.1 on PyPI, CPU only) reads every sample."""
    import pandas as pd

    UnifiedDataset = trainer_module("diffsynth.core", "diffsynth").UnifiedDataset

    dest = exported["step3-wan21-package:diffsynth"]
    trigger = trigger_of(demo_outputs)
    table = pd.read_csv(dest / "metadata.csv")
    assert list(table.columns) == ["video", "prompt"]
    text = (dest / "TRAIN.md").read_text()
    max_pixels = int(re.search(r"--max_pixels (\d+)", text).group(1))
    num_frames = int(re.search(r"--num_frames (\d+)", text).group(1))
    ds = UnifiedDataset(base_path=str(dest), metadata_path=str(dest / "metadata.csv"), repeat=1,
                        data_file_keys=("video",),
                        main_data_operator=UnifiedDataset.default_video_operator(
                            base_path=str(dest), max_pixels=max_pixels, height=None, width=None,
                            height_division_factor=16, width_division_factor=16, num_frames=num_frames,
                            time_division_factor=4, time_division_remainder=1))
    assert len(ds) == len(table)
    for i, row in table.iterrows():
        path = assert_media(row["video"], dest)
        sample = ds[i]
        frames = check_wan_clip(path, wan_sizes(demo_outputs), trigger)
        info, _ = probe_video(path)
        # every frame read, at the packaged size (no crop, no rescale)
        assert len(sample["video"]) == frames and sample["video"][0].size == (info.width, info.height)
        assert sample["prompt"] == row["prompt"]
        assert_trigger_once(sample["prompt"], trigger)


# --------------------------------------------------------------------------- step4: ltx-trainer's precomputed format
LATENT_KEYS = {"latents", "num_frames", "height", "width", "fps"}
CONDITION_KEYS = {"video_prompt_embeds", "audio_prompt_embeds", "prompt_attention_mask"}
AUDIO_KEYS = {"latents", "num_time_steps", "frequency_bins", "duration"}


def read_like_ltx_trainer(root: Path, sources: list[str]) -> list[dict[str, dict]]:
    """Mirror of ltx-trainer's PrecomputedDataset + the keys its trainer/strategies use: descend
    into .precomputed, glob **/*.pt in the primary source (latents), pair by relative path,
    torch.load(weights_only=True), then check keys, shapes, dtypes and the mask. AssertionError
    on anything it would misread or fail on."""
    if (root / ".precomputed").exists():
        root = root / ".precomputed"
    for s in sources:
        assert (root / s).is_dir(), f"missing source folder {root / s}"
    primary = sorted((root / "latents").glob("**/*.pt"))
    assert primary, f"no .pt files in {root / 'latents'}"
    samples = []
    for f in primary:
        rel = f.relative_to(root / "latents")
        sample = {s: torch.load(root / s / rel, map_location="cpu", weights_only=True) for s in sources}
        lat, cond = sample["latents"], sample["conditions"]
        assert set(lat) == LATENT_KEYS, set(lat) ^ LATENT_KEYS
        x = lat["latents"]
        assert x.ndim == 4 and x.dtype == torch.bfloat16  # [C, F', H', W'] not patchified
        assert (lat["num_frames"], lat["height"], lat["width"]) == tuple(x.shape[1:])
        assert isinstance(lat["fps"], float) and lat["fps"] > 0
        # no legacy `prompt_embeds` (the trainer would read it as features for both modalities)
        assert set(cond) == CONDITION_KEYS, set(cond) ^ CONDITION_KEYS
        mask = cond["prompt_attention_mask"]
        assert mask.ndim == 1 and mask.dtype == torch.int64 and set(mask.unique().tolist()) <= {0, 1} and mask.sum() > 0
        for k in ("video_prompt_embeds", "audio_prompt_embeds"):
            assert cond[k].ndim == 2 and cond[k].shape[0] == mask.shape[0] and cond[k].dtype == torch.bfloat16
        if "audio_latents" in sources:
            a = sample["audio_latents"]
            assert set(a) == AUDIO_KEYS, set(a) ^ AUDIO_KEYS
            assert a["latents"].ndim == 3 and a["latents"].dtype == torch.float32
            assert (a["num_time_steps"], a["frequency_bins"]) == tuple(a["latents"].shape[1:])
        samples.append(sample)
    return samples


@pytest.mark.nix
def test_step4_ltx2_files_are_the_ltx_trainers_precomputed_format(demo_outputs, exported):
    out = demo_outputs["step4-ltx2-preprocess"]
    idx = LatentIndex.model_validate(orjson.loads((out / "latents.json").read_bytes()))
    samples = read_like_ltx_trainer(out, ["latents", "conditions", "audio_latents"])
    assert len(samples) == len(idx.clips)
    for c, s in zip(sorted(idx.clips, key=lambda c: c.files["latents"]), samples, strict=True):
        assert list(s["latents"]["latents"].shape) == c.shapes["latents/latents"]
        assert s["latents"]["fps"] == pytest.approx(c.fps)
    # the export: the same files under .precomputed, and a config whose strategy folders exist there
    dest = exported["step4-ltx2-preprocess:ltx2-trainer"]
    cfg = yaml.safe_load((dest / "training.yaml").read_text())
    check_keys(cfg, LTX2_KEYS)
    root = Path(cfg["data"]["preprocessed_data_root"])
    assert root == dest / ".precomputed"
    dirs = [m["latents_dir"] for m in (cfg["training_strategy"].get("video"), cfg["training_strategy"].get("audio")) if m]
    assert dirs == ["latents", "audio_latents"]  # every demo clip has sound
    assert len(read_like_ltx_trainer(root, ["conditions", *dirs])) == len(idx.clips)


@pytest.mark.nix
def test_latents_of_a_split_pack_variant_export_its_vae_paths(demo_outputs, tmp_path):
    """Latents made for LTX-2.5 (`[ltx2_preprocess] variant = "ltx-2.5"`, here the demo's tiny
    latents relabelled): the export names LTX-2.5's split pack — model_path the transformer,
    video_vae_path and audio_vae_path the VAE files of the folder fetch-model made, and the
    packed Gemma 4 text encoder file — in training.yaml, keys of the trainer's ModelConfig; LTX-2's
    latents keep the single checkpoint and no VAE keys."""
    out = demo_outputs["step4-ltx2-preprocess"]
    src = tmp_path / "latents"
    src.mkdir()
    for item in out.iterdir():
        (src / item.name).symlink_to(item)
    (src / "latents.json").unlink()
    data = orjson.loads((out / "latents.json").read_bytes())
    data["config"]["variant"] = "ltx-2.5"
    (src / "latents.json").write_bytes(orjson.dumps(data))
    pack = tmp_path / "pack"  # as `fixed_input.py fetch-model ltx-2.5-22b-dev-split` lays it out
    for rel in ("diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors", "vae/ltx-2.5-video-vae-bf16.safetensors",
                "vae/ltx-2.5-audio-vae-bf16.safetensors"):
        (pack / rel).parent.mkdir(parents=True, exist_ok=True)
        (pack / rel).write_bytes(b"")
    export.export(src, tmp_path / "dest", "ltx2-trainer", model_path=str(pack))
    cfg = yaml.safe_load((tmp_path / "dest" / "training.yaml").read_text())
    check_keys(cfg, LTX2_KEYS)
    model = cfg["model"]
    assert model["model_path"] == str(pack / "diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors")
    assert model["video_vae_path"] == str(pack / "vae/ltx-2.5-video-vae-bf16.safetensors")
    assert model["audio_vae_path"] == str(pack / "vae/ltx-2.5-audio-vae-bf16.safetensors")
    assert model["text_encoder_path"] == "<ltx-2.5-gemma4-12b-text-encoder>/text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors"
    text = (tmp_path / "dest" / "TRAIN.md").read_text()
    assert "LTX-2.5" in text and "variant `ltx-2.5`" in text and "fetch-model ltx-2.5-22b-dev-split" in text
    assert "made with `tiny-ltx2`" in text  # the tiny latents do not fit the real checkpoint: said
    # the default variant: one checkpoint file, its VAEs inside it (no VAE keys)
    export.export(out, tmp_path / "dest2", "ltx2-trainer")
    model2 = yaml.safe_load((tmp_path / "dest2" / "training.yaml").read_text())["model"]
    assert set(model2) == {"model_path", "text_encoder_path", "training_mode"}
    assert model2["model_path"] == "<ltx-2-19b-dev-checkpoint>/ltx-2-19b-dev.safetensors"


def test_the_mirrored_reader_and_step5_refuse_a_missing_or_legacy_key(tmp_path, tiny_diffusion):
    """A conditions file with the legacy key (features the trainer would reuse for both
    modalities) or a latents file without `num_frames` fails the reader and reelset's step5."""
    root = tmp_path / "pre"
    for d in ("latents", "conditions"):
        (root / d / "videos").mkdir(parents=True)
    lat = {"latents": torch.zeros(8, 3, 2, 3, dtype=torch.bfloat16), "num_frames": 3, "height": 2, "width": 3, "fps": 24.0}
    cond = {"video_prompt_embeds": torch.zeros(32, 32, dtype=torch.bfloat16),
            "audio_prompt_embeds": torch.zeros(32, 32, dtype=torch.bfloat16),
            "prompt_attention_mask": torch.ones(32, dtype=torch.int64)}
    torch.save(lat, root / "latents" / "videos" / "a.pt")
    torch.save(cond, root / "conditions" / "videos" / "a.pt")
    read_like_ltx_trainer(root, ["latents", "conditions"])  # complete: passes
    for broken, where in (({k: v for k, v in lat.items() if k != "num_frames"}, "latents"),
                          ({"prompt_embeds": cond["video_prompt_embeds"],
                            "prompt_attention_mask": cond["prompt_attention_mask"]}, "conditions")):
        bad = tmp_path / f"bad-{where}"
        for d in ("latents", "conditions"):
            (bad / d / "videos").mkdir(parents=True)
        torch.save(broken if where == "latents" else lat, bad / "latents" / "videos" / "a.pt")
        torch.save(broken if where == "conditions" else cond, bad / "conditions" / "videos" / "a.pt")
        with pytest.raises(AssertionError):
            read_like_ltx_trainer(bad, ["latents", "conditions"])
    # step5's reader refuses the legacy conditions instead of guessing
    pipe = ltx2.load_pipeline(tiny_diffusion["ltx2"], device="cpu", dtype=torch.float32, parts="train")
    from reelset.schemas.latents import LatentClip

    clip = LatentClip(item_id="a-w00", clip_id="a", bucket="96x64x17", caption="x", width=96, height=64, frames=17, fps=24.0,
                      files={"latents": "latents/videos/a.pt", "conditions": "conditions/videos/a.pt"},
                      shapes={}, dtypes={})
    assert set(train.load_tensors(root, clip, ltx2, pipe, "cpu", torch.float32)) >= {"latents", "prompt_embeds"}
    with pytest.raises(ReelsetError, match="video_prompt_embeds"):
        train.load_tensors(tmp_path / "bad-conditions", clip, ltx2, pipe, "cpu", torch.float32)


# --------------------------------------------------------------------------- sources, errors, captions
@pytest.mark.nix
def test_report_folders_resolve_to_the_compute_output(demo_outputs, tmp_path):
    """A report derivation links its entries into the compute output: export follows them."""
    report = tmp_path / "report"
    report.mkdir()
    for name in ("manifest.json", "index.html"):
        (report / name).symlink_to(demo_outputs["step3-wan21-package"] / name)
    link = tmp_path / "result"
    link.symlink_to(report)
    src = export.resolve_source(link)
    real = (demo_outputs["step3-wan21-package"] / "manifest.json").resolve().parent  # the compute output
    assert src.kind == "step3-wan21-package" and src.root == real and (real / "dataset" / "videos").is_dir()


@pytest.mark.nix
def test_errors_name_the_path_and_the_fix(demo_outputs, tmp_path):
    proc = run_export(demo_outputs["step3-wan21-package"], tmp_path / "x", "ltx2-trainer")
    assert proc.returncode == 2 and "a step3-wan21-package output; --for ltx2-trainer takes step3-ltx2-data or " \
        "step4-ltx2-preprocess" in proc.stderr and not (tmp_path / "x").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    proc = run_export(demo_outputs["step3-ltx2-data"], tmp_path / "full", "ltx2-trainer")
    assert proc.returncode == 2 and f"{tmp_path / 'full'}: exists and is not an empty folder" in proc.stderr
    proc = run_export(tmp_path, tmp_path / "y", "musubi")
    assert proc.returncode == 2 and f"{tmp_path}: not a step3-ltx2-data" in proc.stderr
    proc = run_export(demo_outputs["step3-ltx2-data"], Path("/nix/store/x"), "ltx2-trainer")
    assert proc.returncode == 2 and "in the Nix store" in proc.stderr


def test_one_trigger_rule_for_packages_and_exports():
    """Exports apply the packages' own rule (issue 40: one rule, one case rule): the trigger word
    once and first, in any case it was typed; applying it to a package caption changes nothing."""
    from reelset.captiontext import caption_for

    cases = {"a  shot\nof Lana": "rsdemo a shot of Lana", "rsdemo, a shot": "rsdemo a shot",
             "a shot of RSDEMO": "rsdemo a shot of", "rsdemo and rsdemo": "rsdemo and",
             "rsdemonic shot": "rsdemo rsdemonic shot"}
    for raw, want in cases.items():
        assert caption_for(raw, "rsdemo") == want
        assert caption_for(want, "rsdemo") == want
    assert caption_for("a shot", None) == "a shot"


# --------------------------------------------------------------------------- issue 27: without Nix
def fake_package(root: Path, trainer: str, n: int = 2, real_media: bool = False) -> Path:
    """A step3 output at ``root`` (manifest.json + dataset/videos/*.mp4 with made-up bytes), read-only
    like a store path."""
    videos = root / "dataset" / "videos"
    videos.mkdir(parents=True)
    bucket = "96x64x25" if trainer == "ltx2" else "96x64"
    clips = []
    for i in range(n):
        f = videos / f"v1-s{i:04d}.mp4"
        if real_media:
            ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24", "-t", "1.05", "-pix_fmt", "yuv420p", str(f))
        else:
            f.write_bytes(b"clip %d" % i)
        f.chmod(0o444)
        clips.append(PackagedClip(item_id=f"v1-s{i:04d}-w00", clip_id=f"v1-s{i:04d}", video_id="v1", window=0, fate="kept", caption=f"rsdemo shot {i}",
                                  caption_source="model", file=f"dataset/videos/{f.name}", bucket=bucket, frames=25,
                                  width=96, height=64, fps=24.0))
    config = {"buckets": [bucket], "fps": 24} if trainer == "ltx2" else {"sizes": [bucket]}
    m = PackageManifest(trainer=trainer, dataset="t", config=config, trigger_word="rsdemo", trigger_prepended=True,
                        package_dir="dataset", files=[], reviewed_accepted=n, reviewed_rejected=0, kept=n, dropped=0,
                        frames_written=25 * n, source_frames_trimmed=0, clips=clips)
    (root / "manifest.json").write_bytes(orjson.dumps(m.model_dump(mode="json")))
    (root / "meta.json").write_text("{}")
    return root


def fake_all(root: Path, members: dict[str, Path]) -> Path:
    """`reelset build`'s result: an aggregate of steps (links named by step) over ``members``."""
    root.mkdir()
    for name, path in members.items():
        (root / name).symlink_to(path)
    (root / "aggregate.json").write_bytes(orjson.dumps({
        "schema_version": 1, "kind": "steps", "step": "pipeline", "dataset": "t",
        "members": [{"name": k, "link": k, "path": str(v), "counts": {}} for k, v in members.items()]}))
    return root


def test_export_takes_the_result_of_reelset_build_and_lists_the_choices(tmp_path):
    """Issue 27 (6): `reelset export result DEST` with the `all` aggregate picks the member the
    target takes; when several fit, or none, the error names `result/step3-…`."""
    ltx, wan = fake_package(tmp_path / "ltx", "ltx2"), fake_package(tmp_path / "wan", "wan21")
    result = fake_all(tmp_path / "result", {"step2-caption": tmp_path, "step3-ltx2-data": ltx, "step3-wan21-package": wan})
    assert export.resolve_source(result, "musubi").root == wan
    assert export.resolve_source(result, "ltxv-trainer").root == ltx
    proc = run_export(result, tmp_path / "m", "musubi")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "videos" / "v1-s0001.txt").read_text() == "rsdemo shot 1\n"
    # both step3-ltx2-data and step4-ltx2-preprocess take --for ltx2-trainer: name one
    lat = tmp_path / "lat"
    lat.mkdir()
    (lat / "latents.json").write_text("{}")
    both = fake_all(tmp_path / "both", {"step3-ltx2-data": ltx, "step4-ltx2-preprocess": lat})
    with pytest.raises(ReelsetError, match=re.escape(f"name the one to export: {both / 'step3-ltx2-data'} or "
                                                     f"{both / 'step4-ltx2-preprocess'}")):
        export.resolve_source(both, "ltx2-trainer")
    only_wan = fake_all(tmp_path / "only-wan", {"step3-wan21-package": wan})
    with pytest.raises(ReelsetError, match=re.escape(f"no output of this build exports --for ltx2-trainer (it takes "
                                                     f"step3-ltx2-data or step4-ltx2-preprocess or step3-stills); here: "
                                                     f"{only_wan / 'step3-wan21-package'} (--for musubi|diffusion-pipe|diffsynth|ai-toolkit)")):
        export.resolve_source(only_wan, "ltx2-trainer")
    none = fake_all(tmp_path / "none", {"step1-scenes": tmp_path})
    with pytest.raises(ReelsetError, match="without a package: it has step1-scenes; build step3-ltx2-data or step3-wan21-package"):
        export.resolve_source(none, "musubi")
    with pytest.raises(ReelsetError, match=re.escape("export `reelset build`'s result (or result/step3-ltx2-data, result/step3-wan21-package")):
        export.resolve_source(tmp_path / "ltx" / "dataset", "musubi")


def test_export_copies_never_hard_links_the_store(tmp_path):
    """Issue 27 (8): every exported clip is its own writable file (another inode, mode 0644); a
    write to it in place leaves the source (a store file) as it was."""
    pkg = fake_package(tmp_path / "pkg", "wan21")
    dest = tmp_path / "dest"
    export.export(pkg, dest, "diffusion-pipe")
    for i in range(2):
        src, out = pkg / "dataset" / "videos" / f"v1-s{i:04d}.mp4", dest / "videos" / f"v1-s{i:04d}.mp4"
        assert out.stat().st_ino != src.stat().st_ino and out.stat().st_nlink == 1 and src.stat().st_nlink == 1
        assert out.stat().st_mode & 0o777 == 0o644 and out.read_bytes() == src.read_bytes()
        with open(out, "r+b") as f:  # a trainer rewriting the file in place
            f.write(b"XX")
        assert src.read_bytes() == b"clip %d" % i
    assert export.place(pkg / "manifest.json", tmp_path / "one" / "m.json") in ("reflink", "copy")


def test_ltxv_export_paths_let_the_trainer_pair_latents_and_embeddings(tmp_path):
    """Issue 27 (7): LTX-Video-Trainer @ 31b12733 writes latents to
    `latents/<media_path relative to the dataset file's folder>.pt` (scripts/process_videos.py)
    and text embeddings to `conditions / Path(media_path).with_suffix('.pt')`
    (scripts/process_captions.py); training pairs the two by relative path. Both must land
    under the output folder, at the same relative path, for every clip."""
    pkg = fake_package(tmp_path / "pkg", "ltx2", n=3)
    dest = tmp_path / "dest"
    export.export(pkg, dest, "ltxv-trainer")
    [dataset_file] = dest.glob("dataset-*.json")
    out = dest / ".precomputed-96x64x25"
    rows = json.loads(dataset_file.read_text())
    assert len(rows) == 3
    for row in rows:
        video = dataset_file.parent / Path(row["media_path"].strip())  # process_videos.py: data_root / path
        assert video.is_file() and dest in video.parents
        latent = out / "latents" / video.relative_to(dataset_file.parent).with_suffix(".pt")
        condition = out / "conditions" / Path(row["media_path"].strip()).with_suffix(".pt")  # process_captions.py
        assert out in condition.parents, condition  # an absolute media_path would put it beside the video
        assert latent.relative_to(out / "latents") == condition.relative_to(out / "conditions")


def fake_latents(root: Path) -> Path:
    """A step4-ltx2-preprocess output at ``root``: latents.json + made-up .pt files."""
    files = {k: f"{k}/videos/v1-s0000.pt" for k in ("latents", "conditions")}
    for rel in files.values():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"pt")
    idx = LatentIndex(family="ltx2", dataset="t", model=ModelRef(name="m", repo="Lightricks/LTX-2", revision="r", path="/m"),
                      config={}, package="/p", audio=False,
                      clips=[LatentClip(item_id="v1-s0000-w00", clip_id="v1-s0000", bucket="96x64x25", caption="rsdemo, shot", width=96, height=64,
                                        frames=25, fps=24.0, files=files, shapes={}, dtypes={})])
    (root / "latents.json").write_bytes(orjson.dumps(idx.model_dump(mode="json")))
    return root


def train_md_commands(dest: Path) -> list[list[str]]:
    """The commands of every ```sh block of DEST/TRAIN.md, continuation lines joined, comments
    dropped, each split as the shell would (shlex)."""
    import shlex

    text = (dest / "TRAIN.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    assert blocks, text
    cmds = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                cmds.append(words)
    return cmds


def check_train_md(dest: Path) -> list[list[str]]:
    """Every command of TRAIN.md starts with a program a user has (or the trainer's checkout), every
    path into DEST it names exists (but the outputs folder the trainer makes), and every config
    file it names parses."""
    import tomllib

    cmds = train_md_commands(dest)
    for words in cmds:
        assert words[0] in {"cd", "python", "uv", "accelerate", "deepspeed", "pip", "export"}, words
        for w in words:
            path = Path(w.split("=", 1)[-1])
            if path.is_absolute() and dest in path.parents and "outputs" not in path.parts:
                assert path.exists(), (w, words)
                if path.suffix == ".toml":
                    tomllib.loads(path.read_text())
                elif path.suffix in (".yaml", ".yml"):
                    yaml.safe_load(path.read_text())
                elif path.suffix == ".json":
                    json.loads(path.read_text())
    return cmds


def test_every_train_md_command_parses_and_names_existing_files(tmp_path, models):
    """Issue 27 (9): each export's TRAIN.md, parsed: programs, paths and configs are real; the
    LTX-2 latents export says the text encoder is loaded for every run (trainer.py
    _load_models → load_embeddings_processor); the DiffSynth one installs librosa (its train.py
    imports it) before training and says the models come from ModelScope."""
    ltx = fake_package(tmp_path / "ltx", "ltx2", real_media=True)
    wan = fake_package(tmp_path / "wan", "wan21")
    lat = fake_latents(tmp_path / "lat")
    flags = {"model_path": models["model_path"], "text_encoder_path": models["text_encoder_path"]}
    for src, target in ((ltx, "ltx2-trainer"), (lat, "ltx2-trainer"), (ltx, "ltxv-trainer"), (wan, "musubi"),
                        (wan, "diffusion-pipe"), (wan, "diffsynth"), (ltx, "ai-toolkit"), (wan, "ai-toolkit")):
        dest = tmp_path / f"{src.name}-{target}"
        export.export(src, dest, target, **(flags if target == "ltx2-trainer" else {}))
        cmds = check_train_md(dest)
        text = (dest / "TRAIN.md").read_text()
        if src is lat:
            assert "only loaded for validation" not in text and "needed for every run" in text
            assert "load_embeddings_processor" in text
        if target == "diffsynth":
            programs = [c[0] for c in cmds]
            assert ["pip", "install", "-e", ".[audio]"] in cmds and programs.index("pip") < programs.index("accelerate")
            assert "ModelScope" in text and "DIFFSYNTH_DOWNLOAD_SOURCE=HuggingFace" in text


def test_export_help_says_whole_sentences(capsys):
    """Issue 27 (10): `reelset export --help` described the command with a docstring's first line,
    cut mid-sentence ("…into the new folder ``dest``; returns")."""
    from reelset.cli import main

    with pytest.raises(SystemExit):
        main(["export", "--help"])
    description = capsys.readouterr().out.split("\n\n")[1]
    assert description.rstrip().endswith(".") and "returns" not in description and "``" not in description, description


def test_ltx2_validation_prompt_is_a_reviewed_caption(tmp_path):
    """Issue 38 (6): the exported training.yaml samples a caption the reviewer edited (read from the
    package's manifest beside the latents), not the first item's model caption; without an edited
    one, or without the package at hand, the first item's."""
    from reelset.export import validation_prompt

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    idx = LatentIndex.model_validate_json((fake_latents(tmp_path / "lat") / "latents.json").read_bytes())
    extra = LatentClip(item_id="v1-s0001-w00", clip_id="v1-s0001", bucket="96x64x25", caption="rsdemo, Lana sits down",
                       width=96, height=64, frames=25, fps=24.0, files={}, shapes={}, dtypes={})
    idx = idx.model_copy(update={"clips": [*idx.clips, extra], "package": str(pkg)})
    assert validation_prompt(idx) == "rsdemo, shot"  # no manifest: the first item's
    clips = [PackagedClip(item_id=f"v1-s000{i}-w00", clip_id=f"v1-s000{i}", video_id="v1", window=0, fate="kept",
                          caption=c, caption_source=src, file=f"dataset/videos/v1-s000{i}-w00.mp4", bucket="96x64x25",
                          frames=25, width=96, height=64, fps=24.0)
             for i, (c, src) in enumerate([("rsdemo, shot", "model"), ("rsdemo, Lana sits down", "edited")])]
    m = PackageManifest(trainer="ltx2", dataset="t", config={}, trigger_word="rsdemo", trigger_prepended=True,
                        package_dir="dataset", files=[], reviewed_accepted=2, reviewed_rejected=0, kept=2, dropped=0,
                        frames_written=50, source_frames_trimmed=0, clips=clips)
    (pkg / "manifest.json").write_text(m.model_dump_json())
    assert validation_prompt(idx) == "rsdemo, Lana sits down"
