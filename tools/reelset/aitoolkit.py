"""ai-toolkit (ostris/ai-toolkit) as an export target: its job config and its dataset folders, for
the video families it trains (LTX-2, Wan 2.1, Wan 2.2 TI2V-5B) and for image sets (step3-stills).

Facts read at ostris/ai-toolkit @ 27a03a91f23eb1b757d5ec2e80ee3e129cfcc350 (not its code):

- ``run.py CONFIG``: a YAML job ``job: extension`` whose ``config.process[0]`` (``type: sd_trainer``,
  ``config/examples/train_lora_wan22_14b_24gb.yaml``) holds ``network``, ``save``, ``datasets``,
  ``train``, ``model``, ``sample``;
- ``toolkit/config_modules.py`` ``DatasetConfig``: ``folder_path``, ``caption_ext`` (a leading '.' is
  added when missing), ``resolution`` (a list: the dataset is split per resolution), ``num_frames``
  (1: images; > 1: videos, and images too, bucketed apart), ``shrink_video_to_frames`` (default true:
  ``num_frames`` evenly spaced frames of the whole video — a video of exactly ``num_frames`` frames
  gives every frame), ``fps``, ``do_audio`` (audio from the video files, for models that take it),
  ``num_repeats``, ``cache_latents_to_disk``; a caption file is read as it is (no strip): no trailing newline; ``ModelConfig``: ``arch`` (text after ':' dropped),
  ``name_or_path``, ``quantize``, ``low_vram``;
- ``toolkit/data_loader.py`` ``AiToolkitDataset``: walks ``folder_path`` recursively (folders whose
  name starts with '.' skipped), media by extension (videos ``.mp4`` …, images ``.png``/``.jpg`` …),
  caption = the media file's name with ``caption_ext``; latents cached beside the media
  (``_latent_cache``), so the folder must be writable;
- model classes: ``ltx2`` (extensions_built_in/diffusion_models/ltx2/ltx2.py: sizes /32, frames
  8n+1, audio), ``wan21`` (toolkit/models/wan21/wan21.py: sizes /16), ``wan22_5b``
  (extensions_built_in/diffusion_models/wan22/wan22_5b_model.py: sizes /32); the UI's defaults
  (ui/src/app/jobs/new/options.tsx): ``Lightricks/LTX-2`` at 24 fps with ``do_audio``,
  ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers`` at 16 fps, ``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` at 24 fps;
- a ``trigger_word`` of the process is added to captions that lack it: reelset's captions hold the
  bible's trigger word once already, so none is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

COMMIT = "27a03a91f23eb1b757d5ec2e80ee3e129cfcc350"
CHECKED = f"ostris/ai-toolkit @ {COMMIT[:7]}"


@dataclass(frozen=True)
class Arch:
    """One model ai-toolkit trains: its ``arch``, the diffusers repo it loads, its frame rate and
    the size multiple its buckets use."""

    arch: str
    label: str
    name_or_path: str
    fps: int
    multiple: int
    audio: bool = False


# reelset family → ai-toolkit's model (the family's package exports to it)
ARCHES = {
    "ltx2": Arch("ltx2", "LTX-2", "Lightricks/LTX-2", 24, 32, audio=True),
    "wan21": Arch("wan21", "Wan 2.1 T2V-1.3B", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", 16, 16),
    "wan22": Arch("wan22_5b", "Wan 2.2 TI2V-5B", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", 24, 32),
}


def resolution(sizes: list[tuple[int, int]], multiple: int, cap: int = 1024) -> int:
    """The ``resolution`` of a dataset of items of ``sizes``: the side of the smallest square (a multiple
    of ``multiple``, at most ``cap``) whose area holds the largest item. ai-toolkit's bucket of an item
    (``toolkit/buckets.py`` ``get_bucket_for_image_size``) keeps its aspect ratio at min(its area,
    resolution²) pixels, floored to the model's divisibility: so each item keeps its own size (up to
    ``cap``²) and none is upscaled."""
    side = math.isqrt(max(w * h for w, h in sizes) - 1) + 1
    return max(multiple, min(cap, -(-side // multiple) * multiple))


def dataset_entry(folder: Path, res: int, num_frames: int, fps: float | None = None, audio: bool = False) -> dict:
    """One ``datasets`` entry: ``folder`` (absolute) with same-name ``.txt`` captions."""
    entry = {"folder_path": str(folder), "caption_ext": "txt", "caption_dropout_rate": 0.05, "resolution": [res],
             "num_frames": num_frames, "shrink_video_to_frames": True, "cache_latents_to_disk": True, "num_repeats": 1}
    if fps is not None:
        entry["fps"] = round(fps)
    if audio:
        entry["do_audio"] = True
    return entry


def job(name: str, arch: Arch, datasets: list[dict], out: Path, prompt: str, sample_frames: int, model_path: str | None) -> dict:
    """The job config (``run.py CONFIG``) training a LoRA of ``arch`` on ``datasets``; samples of
    ``sample_frames`` frames with ``prompt``; ``model_path`` replaces the hub repo when given."""
    side = datasets[0]["resolution"][0]
    return {
        "job": "extension",
        "config": {
            "name": name,
            "process": [{
                "type": "sd_trainer",
                "training_folder": str(out),
                "device": "cuda:0",
                "network": {"type": "lora", "linear": 32, "linear_alpha": 32},
                "save": {"dtype": "bf16", "save_every": 250, "max_step_saves_to_keep": 4},
                "datasets": datasets,
                "train": {"batch_size": 1, "steps": 2000, "gradient_accumulation": 1, "train_unet": True,
                          "train_text_encoder": False, "gradient_checkpointing": True, "noise_scheduler": "flowmatch",
                          "optimizer": "adamw8bit", "lr": 1e-4, "dtype": "bf16", "cache_text_embeddings": True},
                "model": {"name_or_path": str(Path(model_path).resolve()) if model_path else arch.name_or_path,
                          "arch": arch.arch, "quantize": True, "quantize_te": True, "low_vram": True},
                "sample": {"sampler": "flowmatch", "sample_every": 250, "width": side, "height": side,
                           "num_frames": sample_frames, "fps": arch.fps, "prompts": [prompt], "neg": "", "seed": 42,
                           "guidance_scale": 4, "sample_steps": 25},
            }],
        },
        "meta": {"name": "[name]", "version": "1.0"},
    }


def train_md(title: str, what: str, config: Path, trigger_note: str, arch_note: str) -> str:
    """TRAIN.md of an ai-toolkit export."""
    return f"""# {title}

{what}

{trigger_note} (ai-toolkit's `trigger_word` is left unset: it would add the word to captions that
already hold it only if it were missing, and `cache_text_embeddings` wants none.)

{arch_note}

Format checked against {CHECKED} (`toolkit/config_modules.py`, `toolkit/data_loader.py`).

```sh
cd ai-toolkit
python run.py {config}
```

LoRA checkpoints and samples go to `training_folder` (`{config.parent / 'outputs'}`).
"""
