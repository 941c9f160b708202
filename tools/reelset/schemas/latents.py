"""step4-*-preprocess: ``[ltx2_preprocess]`` / ``[wan21_preprocess]`` and ``latents.json``
(writer: tools/step4_preprocess.py).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, ModelRef, Strict


class PreprocessConfig(Strict):
    """Settings of a ``step4-*-preprocess`` step (``[ltx2_preprocess]`` / ``[wan21_preprocess]``)."""

    variant: str | None = Field(None, description="Variant of the model family (its `variants` in tools/reelset/families/<family>.py, e.g. \"ltx-2.3\" / \"ltx-2.5\" for LTX-2, \"t2v-1.3b\" for Wan 2.1): picks the base model (checkpoint and text encoder) when `model` is unset; default: the family's default variant. Switching it re-makes the latents and text features (and the LoRA) but not the package: the variants of a family share its clip rules. An unknown name fails evaluation listing the variants.")
    model: str | None = Field(None, description="Base model from nix/models.toml: a diffusers pipeline folder (VAE, text encoder, transformer); overrides the variant's (e.g. a tiny test model, or a dataset's own pin). Nix resolves it (defaults: the variant's, nix/steps.nix) and passes it as models.base; the matching step5-*-train trains the same model.")
    max_text_tokens: int = Field(256, ge=8, le=4096, description="Caption tokens kept by the text encoder (padded/truncated to this length, in tokens).")
    audio: bool = Field(True, description="Encode the clip's audio track into audio latents when it has one (LTX-2 is an audio+video model; ignored by video-only models such as Wan 2.1).")


class LatentClip(Strict):
    """One packaged clip in a preprocess output."""

    item_id: str = Field(description="Item id (a window of a clip: '<clip_id>-wNN'; as in the package manifest).")
    clip_id: str = Field(description="Reviewed clip the item comes from.")
    bucket: str = Field(description="The clip's bucket in the package ('WxHxF' for LTX-2, 'WxH' for Wan 2.1).")
    caption: str = Field(description="Caption encoded (as packaged).")
    width: int = Field(ge=1, description="Clip width, pixels.")
    height: int = Field(ge=1, description="Clip height, pixels.")
    frames: int = Field(ge=1, description="Clip frames.")
    fps: float = Field(gt=0, description="Clip frame rate, frames per second.")
    files: dict[str, str] = Field(description="The clip's files by folder ('latents', 'conditions', 'audio_latents'), relative to the step output: '<folder>/videos/<item_id>.pt' (LTX-2: the LTX-2 trainer's precomputed format) or '.safetensors' (Wan 2.1).")
    shapes: dict[str, list[int]] = Field(description="Shape of every value stored, by '<folder>/<key>' (e.g. 'latents/latents'; no batch dimension; [] for scalars).")
    dtypes: dict[str, str] = Field(description="dtype of every value stored, by '<folder>/<key>': a torch dtype name ('bfloat16', 'int64', …) or 'int' / 'float' for a Python scalar.")


class LatentIndex(Strict):
    """``$out/latents.json`` of step4-ltx2-preprocess / step4-wan21-preprocess: one entry per kept
    clip of the package, each with its latent and text-embedding files."""

    FILE: ClassVar[str] = "latents.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    family: str = Field(pattern=r"^[a-z][a-z0-9]*$", description="Model family: the name of a module of tools/reelset/families/ (ltx2, wan21, …).")
    dataset: str
    model: ModelRef = Field(description="Base model whose VAE and text encoder made the tensors.")
    config: dict = Field(description="The validated preprocess section used.")
    package: str = Field(description="The step3 output read (store path).")
    audio: bool = Field(description="True when audio latents were requested.")
    clips: list[LatentClip]

    @model_validator(mode="after")
    def _unique(self) -> LatentIndex:
        if len({c.item_id for c in self.clips}) != len(self.clips):
            raise ValueError("an item id is listed twice")
        return self

