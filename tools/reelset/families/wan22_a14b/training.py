"""The wan22_a14b family's training sections, ``[wan22_a14b_preprocess]`` (step4-wan22_a14b-preprocess) and ``[wan22_a14b_train]``
(step5-wan22_a14b-train), apart from its package section (config.py): the package step's sources then never hold
the latents and training configs (schemas/latents.py, schemas/train.py), so editing those rebuilds no package.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reelset.schemas.latents import PreprocessConfig
from reelset.schemas.train import TrainConfig


class Wan22A14BPreprocessConfig(PreprocessConfig):
    """``[wan22_a14b_preprocess]`` of dataset.toml: step4-wan22_a14b-preprocess (Wan 2.1 VAE latents,
    16 channels, and UMT5 text embeddings of every clip; both experts train on them)."""

    max_text_tokens: int = Field(512, ge=8, le=4096, description="Caption tokens kept by the UMT5 text encoder (WanPipeline's max_sequence_length is 512).")
    audio: bool = Field(False, description="Ignored: Wan 2.2 T2V-A14B is a video-only model.")


class Wan22A14BTrainConfig(TrainConfig):
    """``[wan22_a14b_train]`` of dataset.toml: step5-wan22_a14b-train (one LoRA per expert, each its
    own chain of segment derivations)."""

    experts: list[Literal["high", "low"]] = Field(
        default_factory=lambda: ["high", "low"], min_length=1,  # the family's EXPERTS, in order
        description="Experts to train, each its own LoRA and chain of segments: 'high' (transformer, timesteps >= 875) "
                    "and/or 'low' (transformer_2, below 875). Adding or dropping one rebuilds only that expert's segments.")

    expert_steps: dict[Literal["high", "low"], int] = Field(
        default_factory=dict,
        description="An expert's own optimizer steps, e.g. { low = 3000 } (default: `steps`); raising one reuses every "
                    "segment of the other expert and the finished ones of its own.")

    @model_validator(mode="after")
    def _unique(self) -> Wan22A14BTrainConfig:
        if len(set(self.experts)) != len(self.experts):
            raise ValueError(f"experts = {self.experts}: name each expert once")
        bad = {k: v for k, v in self.expert_steps.items() if v < 1}
        if bad:
            raise ValueError(f"expert_steps = {bad}: an expert's steps must be >= 1")
        return self
