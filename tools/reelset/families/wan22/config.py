"""Wan 2.2 TI2V-5B's dataset.toml sections: ``[wan22]`` (step3-wan22-package,
tools/step3_wan_package.py), ``[wan22_preprocess]`` and ``[wan22_train]``. Sources: the family
declaration (reelset/families/wan22/__init__.py).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from reelset.schemas.wan_package import WanPackageConfig


class Wan22Config(WanPackageConfig):
    """``[wan22]`` of dataset.toml: step3-wan22-package (Wan 2.2 TI2V-5B trainers: DiffSynth-Studio,
    diffusion-pipe). Without this section the step is not part of `all`."""

    LABEL: ClassVar[str] = "Wan 2.2 TI2V-5B"
    SIZE_MULTIPLE: ClassVar[int] = 32
    FRAME_STEP: ClassVar[int] = 4

    fps: float = Field(24.0, gt=0, description="Target frame rate, frames per second (Wan 2.2 TI2V-5B: sample_fps 24).")
    max_frames: int = Field(121, ge=1, description="Most frames per clip, 4n+1 (TI2V-5B's frame_num 121 = 5 s at 24 fps); longer clips are trimmed from the end.")
    min_frames: int = Field(17, ge=1, description="Fewest frames per clip, 4n+1; a clip with fewer frames at `fps` is dropped (reason in manifest.json).")
    sizes: list[str] = Field(default_factory=lambda: ["1280x704", "704x1280"], min_length=1, description="Output sizes 'WxH' (pixels, multiples of 32: VAE 16x x patch 2); each clip gets the size of nearest aspect ratio (ties: larger area), scaled to cover and center-cropped.")
    audio: bool = Field(False, description="Keep the clip's audio (AAC); Wan 2.2 TI2V-5B is video-only, so off by default.")
