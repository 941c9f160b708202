"""The ltx2 family's training sections, ``[ltx2_preprocess]`` (step4-ltx2-preprocess) and ``[ltx2_train]``
(step5-ltx2-train), apart from its package section (config.py): the package step's sources then never hold
the latents and training configs (schemas/latents.py, schemas/train.py), so editing those rebuilds no package.
"""

from __future__ import annotations

from pydantic import Field

from reelset.schemas.latents import PreprocessConfig
from reelset.schemas.train import TrainConfig


class Ltx2PreprocessConfig(PreprocessConfig):
    """``[ltx2_preprocess]`` of dataset.toml: step4-ltx2-preprocess (VAE video + audio latents and
    Gemma text embeddings of every clip of step3-ltx2-data)."""

    max_text_tokens: int = Field(1024, ge=8, le=4096, description="Caption tokens kept by the Gemma text encoder (LTX-2's pipeline default max_sequence_length is 1024).")


class Ltx2TrainConfig(TrainConfig):
    """``[ltx2_train]`` of dataset.toml: step5-ltx2-train (LTX-2 LoRA)."""
