"""Wan 2.1 text-to-video: the family declaration (see :mod:`reelset.families`).

Package step step3-wan21-package (tools/step3_wan_package.py, ``[wan21]``); latents and training
through :mod:`reelset.wan` (WanPipeline, diffusers 0.42.1); exports for musubi-tuner,
diffusion-pipe and DiffSynth-Studio (reelset/export.py); tiny model: ``tools/make_tiny_models.py
wan2.1``.

Variants (``[wan21_preprocess] variant``): T2V-14B (default) and T2V-1.3B. Wan-Video/Wan2.1 @
9737cba ``wan/configs/wan_t2v_14B.py`` and ``wan_t2v_1_3B.py`` give both the same VAE
(``vae_stride = (4, 8, 8)``), transformer patch ``(1, 2, 2)``, UMT5-XXL text encoder and
``shared_config.py`` ``sample_fps = 16``: one package serves both.
"""

from __future__ import annotations

from reelset.families import Family, Rules, TinyModel, Variant
from reelset.families.wan21.config import Wan21Config

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
    package_config_ref="reelset.families.wan21.config:Wan21Config",
    preprocess_config_ref="reelset.families.wan21.training:Wan21PreprocessConfig",
    train_config_ref="reelset.families.wan21.training:Wan21TrainConfig",
    model_ref="reelset.wan:WanModel",
    variants=tuple(
        Variant(name=f"t2v-{size}", label=f"Wan 2.1 T2V-{size.upper()}", model=f"wan2.1-t2v-{size}", text_encoder="UMT5-XXL",
                rules=Rules(frame_step=4, size_multiple=8 * 2, fps=16.0,
                            source=f"Wan-Video/Wan2.1 @ 9737cba wan/configs/wan_t2v_{config}.py: vae_stride (4, 8, 8), "
                                   "patch_size (1, 2, 2); shared_config.py: sample_fps 16"),
                source=f"Wan-AI/Wan2.1-T2V-{size.upper()}-Diffusers (nix/models.toml wan2.1-t2v-{size}); "
                       f"Wan-Video/Wan2.1 @ 9737cba wan/configs/wan_t2v_{config}.py")
        for size, config in (("14b", "14B"), ("1.3b", "1_3B"))),
    default_variant="t2v-14b",
    tiny=TinyModel(name="tiny-wan2.1", kind="wan2.1", recipe="reelset.wan_tiny:make", package={"max_frames": 17, "min_frames": 9, "sizes": ["64x48"]}),
    exports={"package": ("musubi", "diffusion-pipe", "diffsynth", "ai-toolkit"), "stills": ("diffusion-pipe", "diffsynth")},
    trainer_files={"checkpoint": "Wan-AI/Wan2.1-T2V-1.3B", "vae": "Wan2.1_VAE.pth"},
)
