"""Wan 2.2 T2V-A14B's dataset.toml sections: ``[wan22_a14b]`` (step3-wan22_a14b-package,
tools/step3_wan_package.py), ``[wan22_a14b_preprocess]`` and ``[wan22_a14b_train]``. Sources: the
family declaration (reelset/families/wan22_a14b/__init__.py).
"""

from __future__ import annotations

from typing import ClassVar

from reelset.schemas.wan_package import WanPackageConfig


class Wan22A14BConfig(WanPackageConfig):
    """``[wan22_a14b]`` of dataset.toml: step3-wan22_a14b-package (Wan 2.2 T2V-A14B trainers:
    musubi-tuner, DiffSynth-Studio, diffusion-pipe). Wan 2.1's clip rules and defaults (16 fps, 4n+1
    frames up to 81, sizes multiples of 16: 832x480 / 480x832; A14B also samples 1280x720 /
    720x1280). Without this section the step is not part of `all`."""

    LABEL: ClassVar[str] = "Wan 2.2 T2V-A14B"
    SIZE_MULTIPLE: ClassVar[int] = 16
    FRAME_STEP: ClassVar[int] = 4
