"""Wan 2.1 text-to-video: the family declaration (see :mod:`reelset.families`).

Package step step3-wan21-package (tools/step3_wan_package.py, ``[wan21]``); latents and training
through :mod:`reelset.wan21` (WanPipeline, diffusers 0.42.1); exports for musubi-tuner,
diffusion-pipe and DiffSynth-Studio (reelset/export.py); tiny model: ``tools/make_tiny_models.py
wan2.1``.
"""

from __future__ import annotations

from reelset.families import Family, Rules, TinyModel
from reelset.schemas.wan21_package import Wan21Config

FAMILY = Family(
    name="wan21",
    label="Wan 2.1",
    package_step="step3-wan21-package",
    package_script="step3_wan_package.py",
    # the rules' one home is the package config (Wan21Config: its docstring gives the sources)
    rules=Rules(frame_step=Wan21Config.FRAME_STEP, size_multiple=Wan21Config.SIZE_MULTIPLE,
                fps=Wan21Config.model_fields["fps"].default,
                source="WanPipeline (diffusers 0.42.1): frames 4n+1 (vae_scale_factor_temporal 4), W, H multiples of "
                       "8 (VAE) x 2 (patch); musubi-tuner docs/dataset_config.md: Wan 2.1 trains at 16 fps"),
    package_config_ref="reelset.schemas.wan21_package:Wan21Config",
    preprocess_config_ref="reelset.schemas.latents:Wan21PreprocessConfig",
    train_config_ref="reelset.schemas.train:Wan21TrainConfig",
    model_module="reelset.wan21",
    default_model="wan2.1-t2v-14b",
    tiny=TinyModel(name="tiny-wan2.1", kind="wan2.1", package={"max_frames": 17, "min_frames": 9, "sizes": ["64x48"]}),
    exports={"package": ("musubi", "diffusion-pipe", "diffsynth")},
    trainer_files={"checkpoint": "Wan-AI/Wan2.1-T2V-1.3B", "vae": "Wan2.1_VAE.pth"},
)
