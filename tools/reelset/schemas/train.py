"""step5-*-train: ``[ltx2_train]`` / ``[wan21_train]`` of dataset.toml, ``segment.json`` and
``train.json`` (writers: tools/step5_train_segment.py, tools/step5_train.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, ModelRef, Strict, parse_size


class ValidationConfig(Strict):
    """``[<family>_train.validation]``: samples rendered with the final LoRA (not part of the
    segment derivations: editing it re-renders samples only, it never retrains)."""

    prompts: list[str] = Field(default_factory=list, description="Text-to-video prompts rendered with the trained LoRA (the trigger word is not added automatically).")
    width: int | None = Field(None, ge=16, description="Sample width, pixels (default: the first training bucket's).")
    height: int | None = Field(None, ge=16, description="Sample height, pixels (default: the first training bucket's).")
    frames: int | None = Field(None, ge=1, description="Sample frames (default: the first training bucket's; LTX-2 8n+1, Wan 2.1 4n+1).")
    steps: int = Field(30, ge=1, description="Denoising steps per sample.")
    seed: int = Field(0, ge=0, description="Sampling seed (noise of every sample).")


TRAIN_PRESETS: dict[str, dict] = {
    "48gb": {"rank": 32, "alpha": 32, "batch_size": 1, "gradient_checkpointing": True, "weights_dtype": "float8"},
    "80gb": {"rank": 64, "alpha": 64, "batch_size": 1, "gradient_checkpointing": True, "weights_dtype": "bfloat16"},
}


class TrainConfig(Strict):
    """``[ltx2_train]`` / ``[wan21_train]`` of dataset.toml: LoRA training (step5-*-train).

    A run is a chain of segment derivations of ``segment_steps`` steps each; segment k resumes
    from segment k-1's LoRA and optimizer state. ``steps`` and ``validation`` are not part of a
    segment's inputs: raising ``steps`` reuses every finished segment. The learning rate
    schedule is therefore constant after a linear warmup (a schedule that depends on ``steps``
    would change every segment)."""

    preset: Literal["48gb", "80gb"] | None = Field(None, description="GPU memory preset (docs/training.md): fills rank, alpha, batch_size, gradient_checkpointing and weights_dtype where dataset.toml leaves them out.")
    steps: int = Field(ge=1, description="Optimizer steps of the whole run (required). Raising it later reuses the finished segments.")
    segment_steps: int = Field(250, ge=1, description="Steps per segment derivation: a crash or interruption loses at most this many steps. Nix reads the same default (nix/pipeline.nix).")
    rank: int = Field(32, description="LoRA rank r (>= 1).")
    alpha: float = Field(32.0, description="LoRA alpha (scaling = alpha / rank; > 0).")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | None = Field(None, description="Module names (suffixes, peft semantics) that get LoRA layers; default: the family's (reelset/ltx2.py, reelset/wan21.py DEFAULT_TARGET_MODULES). Names not in the transformer are an error.")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps of the learning rate (then constant).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient norm clipping.")
    batch_size: int = Field(1, ge=1, description="Clips per step; a batch holds clips of one bucket (same latent shape).")
    seed: int = Field(42, ge=0, description="Seed of the LoRA initialization, clip order, noise and timesteps (per step: a segment resumed from a checkpoint draws the same numbers as an uninterrupted run).")
    buckets: list[str] | None = Field(None, description="Resolution buckets to train on, as named in the package's manifest.json ('WxHxF' for LTX-2, 'WxH' for Wan 2.1); default: every bucket with clips. A bucket the package does not have is an error.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in the backward pass (diffusers enable_gradient_checkpointing): less memory, about 30% slower.")
    weights_dtype: Literal["bfloat16", "float8"] = Field("bfloat16", description="Storage dtype of the frozen base weights on CUDA: 'float8' = diffusers layerwise casting (float8_e4m3fn storage, bf16 compute), halving weight memory. On the CPU everything is float32.")
    validation: ValidationConfig = Field(default_factory=ValidationConfig, description="Samples rendered with the final LoRA.")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        if isinstance(data, dict) and data.get("preset") in TRAIN_PRESETS:
            data = {**TRAIN_PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _rules(self) -> TrainConfig:
        if self.rank < 1:
            raise ValueError(f"rank = {self.rank}: a LoRA rank must be >= 1 (e.g. 16, 32, 64)")
        if self.alpha <= 0:
            raise ValueError(f"alpha = {self.alpha}: must be > 0 (usually equal to rank)")
        if self.target_modules is not None and not self.target_modules:
            raise ValueError("target_modules = []: give at least one module name, or leave it out for the family's default")
        for b in self.buckets or []:
            parse_size(b, b.lower().count("x") + 1)
        return self


class SegmentSpec(Strict):
    """``config.segment`` of a segment derivation's spec (written by nix/pipeline.nix)."""

    index: int = Field(ge=0, description="Segment number (0-based).")
    start: int = Field(ge=0, description="First optimizer step of the segment (0-based).")
    end: int = Field(ge=1, description="Step after the last one (half-open [start, end)).")

    @model_validator(mode="after")
    def _order(self) -> SegmentSpec:
        if self.end <= self.start:
            raise ValueError(f"segment {self.index}: end {self.end} <= start {self.start}")
        return self


class LossPoint(Strict):
    """Loss of one optimizer step."""

    step: int = Field(ge=0, description="Optimizer step (0-based).")
    loss: float = Field(description="Training loss (flow-matching MSE) of the step's batch.")
    sigma: float = Field(description="Mean noise level sigma of the batch (0 = clean, 1 = noise).")
    lr: float = Field(description="Learning rate used.")
    clips: list[str] = Field(description="Clip ids of the batch.")


class TrainSegment(Strict):
    """``$out/segment.json`` of one segment derivation of step5-*-train."""

    FILE: ClassVar[str] = "segment.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    family: str = Field(pattern=r"^[a-z][a-z0-9]*$", description="Model family: the name of a module of tools/reelset/families/ (ltx2, wan21, …).")
    dataset: str
    segment: SegmentSpec
    config: dict = Field(description="The validated training config the segment ran with (without `steps` and `validation`).")
    model: ModelRef
    previous: str | None = Field(description="The previous segment's output (store path), null for segment 0.")
    device: str = Field(description="Device used ('cpu', 'cuda:0').")
    lora_file: str = Field(description="LoRA after the segment (diffusers format), relative to the output.")
    lora_sha256: str = Field(description="Content hash of lora_file (reelset.train.lora_digest: sha256 over its metadata and tensors in canonical order; the file's own bytes vary in header order).")
    optimizer_file: str = Field(description="AdamW state after the segment (torch.save), relative to the output.")
    trainable_parameters: int = Field(ge=0, description="LoRA parameters trained.")
    losses: list[LossPoint] = Field(description="Every step of this segment and of all earlier ones (history carried along the chain).")


class TrainSample(Strict):
    """One validation sample rendered with the final LoRA."""

    prompt: str
    file: str = Field(description="Video file, relative to the output.")
    poster: str = Field(description="First frame (PNG), relative to the output.")
    width: int
    height: int
    frames: int
    fps: float
    seed: int
    has_audio: bool


class TrainArtifact(Strict):
    """``$out/train.json`` of step5-ltx2-train / step5-wan21-train: the whole run."""

    FILE: ClassVar[str] = "train.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    family: str = Field(pattern=r"^[a-z][a-z0-9]*$", description="Model family: the name of a module of tools/reelset/families/ (ltx2, wan21, …).")
    dataset: str
    config: dict = Field(description="The validated training config (with `steps` and `validation`).")
    model: ModelRef = Field(description="Base model (repo, revision, store path = content hash of the pinned fixed input).")
    latents: str = Field(description="The preprocess output trained on (store path).")
    seed: int
    steps: int
    segments: list[str] = Field(description="Segment outputs in order (store paths); each has segment.json, its LoRA and optimizer state.")
    lora_file: str = Field(description="Final LoRA (diffusers format, `load_lora_weights`), relative to the output.")
    lora_sha256: str
    lora_keys: int = Field(ge=1, description="Tensors in the LoRA file.")
    losses: list[LossPoint]
    samples: list[TrainSample]

