"""The wan21 family's training sections, ``[wan21_preprocess]`` (step4-wan21-preprocess) and ``[wan21_train]``
(step5-wan21-train), apart from its package section (config.py): the package step's sources then never hold
the latents and training configs (schemas/latents.py, schemas/train.py), so editing those rebuilds no package.
"""

from __future__ import annotations

from pydantic import Field

from reelset.schemas.latents import PreprocessConfig
from reelset.schemas.train import TrainConfig


class Wan21PreprocessConfig(PreprocessConfig):
    """``[wan21_preprocess]`` of dataset.toml: step4-wan21-preprocess (VAE latents and UMT5 text
    embeddings of every clip of step3-wan21-package)."""

    max_text_tokens: int = Field(512, ge=8, le=4096, description="Caption tokens kept by the UMT5 text encoder (WanPipeline's max_sequence_length is 512).")
    audio: bool = Field(False, description="Ignored: Wan 2.1 is a video-only model.")


class Wan21TrainConfig(TrainConfig):
    """``[wan21_train]`` of dataset.toml: step5-wan21-train (Wan 2.1 LoRA)."""
