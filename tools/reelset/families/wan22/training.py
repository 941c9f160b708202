"""The wan22 family's training sections, ``[wan22_preprocess]`` (step4-wan22-preprocess) and ``[wan22_train]``
(step5-wan22-train), apart from its package section (config.py): the package step's sources then never hold
the latents and training configs (schemas/latents.py, schemas/train.py), so editing those rebuilds no package.
"""

from __future__ import annotations

from pydantic import Field

from reelset.schemas.latents import PreprocessConfig
from reelset.schemas.train import TrainConfig


class Wan22PreprocessConfig(PreprocessConfig):
    """``[wan22_preprocess]`` of dataset.toml: step4-wan22-preprocess (VAE latents, 48 channels, and
    UMT5 text embeddings of every clip of step3-wan22-package)."""

    max_text_tokens: int = Field(512, ge=8, le=4096, description="Caption tokens kept by the UMT5 text encoder (WanPipeline's max_sequence_length is 512).")
    audio: bool = Field(False, description="Ignored: Wan 2.2 TI2V-5B is a video-only model.")


class Wan22TrainConfig(TrainConfig):
    """``[wan22_train]`` of dataset.toml: step5-wan22-train (Wan 2.2 TI2V-5B LoRA)."""
