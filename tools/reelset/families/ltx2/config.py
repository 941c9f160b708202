"""LTX-2's dataset.toml sections: ``[ltx2]`` (step3-ltx2-data, tools/step3_ltx2_data.py),
``[ltx2_preprocess]`` (step4-ltx2-preprocess) and ``[ltx2_train]`` (step5-ltx2-train).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from reelset.schemas.base import X264Preset, parse_size
from reelset.schemas.windows import WindowSettings


class Ltx2Config(WindowSettings):
    """``[ltx2]`` of dataset.toml: step3-ltx2-data (LTX-2 trainer, Lightricks/LTX-2
    packages/ltx-trainer/docs/dataset-preparation.md).

    The family's clip rules live here, once (the family declaration and the model
    code of this package read them): ``SIZE_MULTIPLE`` (W, H multiples of the video VAE's spatial factor
    32) and ``FRAME_STEP`` (F = 8n + 1: its causal temporal factor 8),
    per ltx-trainer docs/dataset-preparation.md ("Resolution Buckets": the default VAE's factors,
    spatial 32, temporal 8; the same text for LTX-2, 2.3 and 2.5 at Lightricks/LTX-2 400fd31);
    the default ``fps`` 24 (the trainer's configs: ``frame_rate: 24.0``)."""

    SIZE_MULTIPLE: ClassVar[int] = 32
    FRAME_STEP: ClassVar[int] = 8

    fps: Literal[24, 25] = Field(24, description="Target frame rate, frames per second (LTX-2 trains at 24 or 25 fps); clips are resampled to it.")
    buckets: list[str] = Field(default_factory=lambda: ["960x544x97", "960x544x49", "960x544x25"], min_length=1, description="Resolution buckets 'WxHxF' (pixels, pixels, frames): W and H multiples of 32, F = 8n+1 (ltx-trainer docs). Each clip goes to the bucket of nearest aspect ratio among those with F <= its frames at `fps` (ties: more frames, then larger area), as the trainer assigns them; clips shorter than every bucket are dropped. Several buckets need batch size 1 in the trainer.")
    metadata_format: Literal["json", "jsonl", "csv"] = Field("json", description="Metadata file written next to the clips: dataset.json / dataset.jsonl / dataset.csv with columns `caption` and `video` (path relative to the metadata file).")
    audio: bool = Field(True, description="Keep the clip's audio (AAC 48 kHz stereo, cut to the written frames); LTX-2 is an audio-video model and extracts audio from the video file.")
    audio_captions: bool = Field(True, description="Captions describe the sound as well as the picture, in the sections of the LTX-2 trainer's own captioner (ltx_trainer/captioning.py): `[VISUAL]: <caption>` and, for a clip written with audio, `[SPEECH]: Name: \"words\"` from the reviewed dialogue (who says what; 'None' for a clip without speech). [SOUNDS] and [TEXT] are left out: no step hears music and effects or reads on-screen text yet. Off (or `audio` off): the picture caption alone, as for Wan.")
    crf: int = Field(17, ge=0, le=51, description="libx264 CRF of the written clips. With preset superfast: a higher SSIM against "
                     "the source than CRF 18 medium in less than half the CPU time, files ~1.8x larger (bench/bench_package.py).")
    preset: X264Preset = Field("superfast", description="libx264 preset of the written clips (speed vs size at that CRF); the clips "
                               "feed a trainer's latent caching once, so speed and quality come before size.")

    @model_validator(mode="after")
    def _rules(self) -> Ltx2Config:
        for b in self.buckets:
            w, h, f = parse_size(b, 3)
            m, n = self.SIZE_MULTIPLE, self.FRAME_STEP
            if w % m or h % m:
                raise ValueError(f"bucket {b!r}: width and height must be multiples of {m} (LTX-2 VAE spatial factor)")
            if f % n != 1:
                raise ValueError(f"bucket {b!r}: frames must be {n}n+1 (1, {n + 1}, {2 * n + 1}, {3 * n + 1}, ..., 97, 121; "
                                 f"LTX-2 VAE temporal factor {n})")
        if len(set(self.buckets)) != len(self.buckets):
            raise ValueError("buckets: duplicate entries")
        return self
