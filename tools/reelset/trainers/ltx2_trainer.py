"""The LTX-2 trainer (Lightricks/LTX-2 ``packages/ltx-trainer``): the model paths it loads for a
family variant, the options of its ``process_dataset.py`` and its training config (YAML), as
``reelset export`` writes them for packages and latents.

Facts read at Lightricks/LTX-2 @ 400fd31 (``packages/ltx-trainer/src/ltx_trainer/config.py``,
``process_dataset.py``, ``training_strategies/flexible.py``); the dataset formats themselves are
described in reelset.export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reelset import ReelsetError
from reelset.families import Variant

LTX2_REPO = "Lightricks/LTX-2, packages/ltx-trainer"
MODELS_TOML = Path(__file__).resolve().parents[3] / "nix" / "models.toml"


@dataclass(frozen=True)
class TrainerModels:
    """What the LTX-2 trainer loads for one variant: its model config keys (``model_path``,
    ``text_encoder_path`` and, for a split pack, ``video_vae_path`` / ``audio_vae_path``) → a
    path, or a ``<placeholder>`` naming the nix/models.toml entry and file; and the entries."""

    variant: Variant
    paths: dict[str, str]
    entries: tuple[str, str]  # (checkpoint entry, text encoder entry) of nix/models.toml

    @property
    def split(self) -> bool:
        return "video_vae_path" in self.paths

    @property
    def placeholders(self) -> bool:
        return any(v.startswith("<") for v in self.paths.values())


def _entry_files(entry: str) -> list[str]:
    import tomllib

    models = tomllib.loads(MODELS_TOML.read_text(encoding="utf-8"))
    if entry not in models:
        raise ReelsetError(f"{MODELS_TOML}: no entry {entry!r} (named by a variant of reelset/families/ltx2/__init__.py)")
    return [f for f in models[entry].get("files", []) if f != "*"]


def _in(root: str | None, rel: str, entry: str) -> str:
    """``root/rel`` when ``root`` is a folder (as `fixed_input.py fetch-model ENTRY DIR` makes it),
    ``root`` itself when it is a file, else the placeholder ``<ENTRY>/rel``."""
    if not root:
        return f"<{entry}>/{rel}" if rel else f"<{entry} folder>"
    return str(Path(root).resolve() / rel) if rel and Path(root).is_dir() else str(Path(root).resolve())


def trainer_models(variant: Variant, model_path: str | None, text_encoder: str | None) -> TrainerModels:
    """The LTX-2 trainer's model paths for ``variant`` (its ``trainer_models`` entries of
    nix/models.toml) from ``--model-path`` / ``--text-encoder-path`` (a file, or the folder the
    entry was fetched into) or placeholders. Rules of the trainer's ``ModelConfig`` and
    ``process_dataset.py`` (Lightricks/LTX-2 @ 400fd31 packages/ltx-trainer/src/ltx_trainer/config.py):
    a unified checkpoint (one .safetensors) is ``model_path``, its VAEs default to it; a split pack
    (LTX-2.5: ``diffusion_models/`` transformer, ``vae/`` video and audio VAE files) sets
    ``model_path`` to the transformer and needs ``video_vae_path`` and ``audio_vae_path``; the text
    encoder is a Gemma folder or one packed .safetensors. ReelsetError naming the entry when a
    split pack's files cannot be told apart."""
    ckpt, te = variant.trainer_models["checkpoint"], variant.trainer_models["text_encoder"]
    files = _entry_files(ckpt)
    if len(files) <= 1:
        paths = {"model_path": _in(model_path, files[0] if files else "", ckpt)}
    else:
        roles = {"model_path": [f for f in files if f.startswith("diffusion_models/")],
                 "video_vae_path": [f for f in files if f.startswith("vae/") and "video" in f],
                 "audio_vae_path": [f for f in files if f.startswith("vae/") and "audio" in f]}
        if any(len(v) != 1 for v in roles.values()):
            raise ReelsetError(f"{MODELS_TOML}: [{ckpt}] files {files}: a split pack needs exactly one "
                               f"diffusion_models/ transformer and one video and one audio vae/ file")
        paths = {k: _in(model_path, v[0], ckpt) for k, v in roles.items()}
    te_files = _entry_files(te)
    paths["text_encoder_path"] = _in(text_encoder, te_files[0] if len(te_files) == 1 else "", te)
    return TrainerModels(variant, paths, (ckpt, te))


def model_flags(tm: TrainerModels) -> str:
    """process_dataset.py's model options for ``tm`` (one per line, shell continuation)."""
    flags = {"model_path": "--model-path", "text_encoder_path": "--text-encoder-path",
             "video_vae_path": "--video-vae-path", "audio_vae_path": "--audio-vae-path"}
    return " \\\n".join(f"  {flags[k]} {v}" for k, v in tm.paths.items())


def models_note(tm: TrainerModels) -> str:
    """TRAIN.md's paragraph on the model files of ``tm``."""
    v, (ckpt, te) = tm.variant, tm.entries
    kind = ("a split pack: `model_path` the transformer, `video_vae_path` and `audio_vae_path` its VAE files"
            if tm.split else "an ltx-core single-file checkpoint (`model_path`; reelset's diffusers folder is not it)")
    return (f"Model files ({v.label}, variant `{v.name}`; text encoder {v.text_encoder}): {kind}; `text_encoder_path` "
            f"its text encoder. Both are entries of reelset's nix/models.toml (`{ckpt}`, `{te}`): "
            f"`python tools/fixed_input.py fetch-model {ckpt} ./ltx2-ckpt`, then pass that folder as "
            f"`--model-path` to `reelset export`."
            + (" Placeholders `<entry>/file` are left where no path was given: fill them in, here and in "
               "training.yaml." if tm.placeholders else ""))


def training_config(dest: Path, root: Path, audio: bool, bucket: tuple[int, int, int], prompt: str, fps: float,
               tm: TrainerModels) -> dict:
    """The LTX-2 trainer's training config (HEAD key names; every key is one of config.py's; the
    model keys of :func:`trainer_models`)."""
    strategy = {"name": "flexible", "video": {"is_generated": True, "latents_dir": "latents"}}
    if audio:
        strategy["audio"] = {"is_generated": True, "latents_dir": "audio_latents"}
    return {
        "model": {**tm.paths, "training_mode": "lora"},
        "lora": {"rank": 32, "alpha": 32, "dropout": 0.0, "target_modules": ["to_k", "to_q", "to_v", "to_out.0"]},
        "training_strategy": strategy,
        "optimization": {"learning_rate": 1e-4, "steps": 2000, "batch_size": 1, "gradient_accumulation_steps": 1,
                         "max_grad_norm": 1.0, "optimizer_type": "adamw", "enable_gradient_checkpointing": True},
        "acceleration": {"mixed_precision_mode": "bf16"},
        "data": {"preprocessed_data_root": str(root), "num_dataloader_workers": 2},
        "validation": {"samples": [{"prompt": prompt}], "video_dims": list(bucket), "frame_rate": fps,
                       "interval": None},
        "checkpoints": {"interval": 500, "keep_last_n": 2},
        "seed": 42,
        "output_dir": str(dest / "outputs"),
    }
