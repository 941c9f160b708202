"""The Wan package step's section: :class:`WanPackageConfig`, what every Wan family's ``[<family>]``
validates (fps, 4n+1 frames, sizes; writer: tools/step3_wan_package.py). Each Wan family subclasses
it in its own package (e.g. reelset/families/wan21/config.py ``Wan21Config``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from reelset.schemas.base import X264Preset, parse_size
from reelset.schemas.windows import WindowSettings


class WanPackageConfig(WindowSettings):
    """A Wan family's package section; a family subclasses it with its defaults and sets
    ``LABEL`` (for messages), ``SIZE_MULTIPLE`` (pixels: VAE spatial factor x patch 2) and
    ``FRAME_STEP`` (frames are FRAME_STEP * n + 1: the VAE's causal temporal factor)."""

    LABEL: ClassVar[str] = "Wan"
    SIZE_MULTIPLE: ClassVar[int] = 16
    FRAME_STEP: ClassVar[int] = 4

    fps: float = Field(16.0, gt=0, description="Target frame rate, frames per second (Wan 2.1 is trained at 16 fps; musubi-tuner docs recommend 16 fps videos).")
    max_frames: int = Field(81, ge=1, description="Most frames per clip, 4n+1 (Wan 2.1's default 81 = 5 s at 16 fps); longer clips are trimmed from the end.")
    min_frames: int = Field(17, ge=1, description="Fewest frames per clip, 4n+1; a clip with fewer frames at `fps` is dropped (reason in manifest.json).")
    sizes: list[str] = Field(default_factory=lambda: ["832x480", "480x832"], min_length=1, description="Output sizes 'WxH' (pixels, multiples of 16); each clip gets the size of nearest aspect ratio (ties: larger area), scaled to cover and center-cropped.")
    audio: bool = Field(False, description="Keep the clip's audio (AAC); Wan 2.1 is video-only, so off by default.")
    crf: int = Field(17, ge=0, le=51, description="libx264 CRF of the written clips. With preset superfast: a higher SSIM against "
                     "the source than CRF 18 medium in less than half the CPU time, files ~1.8x larger (bench/bench_package.py).")
    preset: X264Preset = Field("superfast", description="libx264 preset of the written clips (speed vs size at that CRF); the clips "
                               "feed a trainer's latent caching once, so speed and quality come before size.")

    @model_validator(mode="after")
    def _rules(self) -> WanPackageConfig:
        n = self.FRAME_STEP
        for name in ("max_frames", "min_frames"):
            if getattr(self, name) % n != 1:
                raise ValueError(f"{name} = {getattr(self, name)}: must be {n}n+1 ({n + 1}, {2 * n + 1}, ...; "
                                 f"{self.LABEL} VAE temporal factor {n})")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} > max_frames {self.max_frames}")
        for s in self.sizes:
            w, h = parse_size(s, 2)
            if w % self.SIZE_MULTIPLE or h % self.SIZE_MULTIPLE:
                raise ValueError(f"size {s!r}: width and height must be multiples of {self.SIZE_MULTIPLE} ({self.LABEL})")
        return self
