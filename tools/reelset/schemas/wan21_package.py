"""step3-wan21-package: ``[wan21]`` of dataset.toml (writer: tools/step3_wan21_package.py).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from reelset.schemas.base import Strict, X264Preset, parse_size


class Wan21Config(Strict):
    """``[wan21]`` of dataset.toml: step3-wan21-package (Wan 2.1 trainers: DiffSynth-Studio,
    musubi-tuner, diffusion-pipe)."""

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
    def _rules(self) -> Wan21Config:
        for name in ("max_frames", "min_frames"):
            if getattr(self, name) % 4 != 1:
                raise ValueError(f"{name} = {getattr(self, name)}: must be 4n+1 (5, 9, ..., 81; Wan 2.1 VAE temporal factor 4)")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} > max_frames {self.max_frames}")
        for s in self.sizes:
            w, h = parse_size(s, 2)
            if w % 16 or h % 16:
                raise ValueError(f"size {s!r}: width and height must be multiples of 16 (Wan 2.1)")
        return self

