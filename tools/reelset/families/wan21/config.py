"""Wan 2.1's dataset.toml sections: ``[wan21]`` (step3-wan21-package, tools/step3_wan_package.py),
``[wan21_preprocess]`` (step4-wan21-preprocess) and ``[wan21_train]`` (step5-wan21-train).
"""

from __future__ import annotations

from typing import ClassVar

from reelset.schemas.wan_package import WanPackageConfig


class Wan21Config(WanPackageConfig):
    """``[wan21]`` of dataset.toml: step3-wan21-package (Wan 2.1 trainers: DiffSynth-Studio,
    musubi-tuner, diffusion-pipe).

    Wan 2.1's clip rules live here, once (the family declaration and the Wan model
    code, reelset/wan.py, read them): ``SIZE_MULTIPLE`` 16 (``WanPipeline``, diffusers 0.42.1: W, H
    multiples of the VAE's spatial factor 8 x transformer patch 2), ``FRAME_STEP`` 4 (frames 4n+1:
    ``vae_scale_factor_temporal`` 4) and the default ``fps`` 16 (musubi-tuner docs/dataset_config.md:
    Wan 2.1 trains at 16 fps)."""

    LABEL: ClassVar[str] = "Wan 2.1"
    SIZE_MULTIPLE: ClassVar[int] = 16
    FRAME_STEP: ClassVar[int] = 4
