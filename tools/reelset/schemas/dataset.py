"""``dataset.toml`` as a whole: the videos and every section's model.

The sections are not listed here: each step declares the sections it takes with their models
(``Step.config`` beside its tool, reelset.declare), each model family its own three
(reelset.families), and :func:`dataset_config` makes the model of them — adding a step with
settings never edits this file. Only what no step takes stays here (name, videos, ``[bible]``,
read by Nix).

No step imports this module (each imports only the sections it declares); it serves the
docs generator, the evaluation-time key check (nix/config-keys.json) and the tests. Making
``DatasetConfig`` imports every step tool (:func:`reelset.declare.collect`; ``tools/`` on
``sys.path``), so it is made on first use, not at import.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, Field, create_model, model_validator

from reelset import ReelsetError, families
from reelset.declare import Step, collect
from reelset.schemas.base import Strict
from reelset.schemas.bible import BibleConfig

TOOLS = Path(__file__).resolve().parents[2]


class VideoEntry(Strict):
    """One ``[[videos]]`` entry of dataset.toml (either ``path`` or ``file`` + ``sha256``)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Stable video id used in clip ids and shard names.")
    path: str | None = Field(None, description="File inside the dataset folder (small/committed videos).")
    file: str | None = Field(None, description="File name of a fixed input added to the Nix store.")
    sha256: str | None = Field(None, description="sha256 (hex or SRI) of the fixed input file.")
    url: str | None = Field(None, description="Optional URL the fixed input may be fetched from.")
    audio: int | str | None = Field(None, description="The audio track every step hears (ASR, speakers, voice references) "
                                    "and the clips and packages carry: a stream index (ffmpeg's 'Stream #0:<index>') or a "
                                    "language tag ('eng'); default: the track marked default, else the first. Checked at "
                                    "evaluation against the file's tracks.")
    crop: str = Field("auto", pattern=r"^(auto|none|[0-9]+:[0-9]+:[0-9]+:[0-9]+)$",
                      description="Letterbox / pillarbox bars (step1-scenes): 'auto' crops what cropdetect finds black at every "
                                  "sampled point of the video, 'none' keeps the whole frame, 'W:H:X:Y' crops that box (pixels of "
                                  "the displayed picture, e.g. '1920:800:0:140').")

    @model_validator(mode="after")
    def _one_source(self) -> VideoEntry:
        if (self.path is None) == (self.file is None):
            raise ValueError("set exactly one of 'path' (file in the dataset folder) or 'file' + 'sha256' (fixed input)")
        if self.file is not None and not self.sha256:
            raise ValueError("'file' needs 'sha256' (the fixed input's hash)")
        return self


class _DatasetBase(Strict):
    """``pipelines/<name>/dataset.toml``: the dataset's videos and per-step settings."""

    name: str = Field(description="Dataset name.")
    description: str = Field("", description="Free text.")
    videos: list[VideoEntry] = Field(min_length=1, description="Source videos (one shard per video for video-level steps).")
    bible: BibleConfig = Field(default_factory=lambda: BibleConfig(), description="Where the series bible is (read by Nix).")


def step_sections(steps: list[Step]) -> dict[str, tuple]:
    """The dataset.toml sections the ``steps`` declare (``Step.config``: section → model), as
    pydantic field definitions, in pipeline order; a family's sections are left to
    :func:`family_sections`. A section is optional (default None) when it is the step's
    ``opt_in`` — without it the step is not part of `all` —, else it defaults to its model's
    defaults. The description names the steps taking it (the model's docstring says the rest).
    ReelsetError when two steps declare one section with different models."""
    owned = {s for f in families.every() for s in (f.name, f.preprocess_section, f.train_section)}
    models: dict[str, type[BaseModel]] = {}
    takers: dict[str, list[Step]] = {}
    for step in steps:
        for section, model in step.config.items():
            if section in owned:
                continue
            if models.setdefault(section, model) is not model:
                raise ReelsetError(f"[{section}]: step {step.name} ({step.script}) declares it as {model.__name__}, "
                                   f"{takers[section][0].name} as {models[section].__name__}; one section has one model")
            takers.setdefault(section, []).append(step)
    out: dict[str, tuple] = {}
    for section, model in models.items():
        names = ", ".join(s.name for s in takers[section])
        if any(s.opt_in == section for s in takers[section]):
            out[section] = (model | None, Field(None, description=f"Taken by {names}; without this section the step is "
                                                "not part of `all`."))
        else:
            out[section] = (model, Field(default_factory=model, description=f"Taken by {names}."))
    return out


def family_sections() -> dict[str, tuple]:
    """The dataset.toml sections of every model family (reelset/families), as pydantic field
    definitions: ``[<f>]`` (package step, defaults when absent), ``[<f>_preprocess]`` (defaults when
    absent) and ``[<f>_train]`` (optional: without it step5-<f>-train is not part of `all`)."""
    out: dict[str, tuple] = {}
    for fam in families.every():
        out[fam.name] = (fam.package_config, Field(default_factory=fam.package_config,
                                                   description=f"{fam.package_step} settings ({fam.label} dataset)."))
        out[fam.preprocess_section] = (fam.preprocess_config, Field(
            default_factory=fam.preprocess_config, description=f"{fam.preprocess_step} settings (latents + text embeddings)."))
        out[fam.train_section] = (fam.train_config | None, Field(
            None, description=f"{fam.train_step} settings (LoRA); without this section the step is not part of `all`."))
    return out


@functools.cache
def dataset_config() -> type[BaseModel]:
    """The model of dataset.toml: the base fields, then the steps' sections
    (:func:`step_sections` of every declared step, :func:`reelset.declare.collect`), then the
    families' (:func:`family_sections`)."""
    model = create_model("DatasetConfig", __base__=_DatasetBase, __module__=__name__,
                         **step_sections(collect(TOOLS)), **family_sections())
    model.__doc__ = _DatasetBase.__doc__
    return model


def __getattr__(name: str) -> type[BaseModel]:
    """``DatasetConfig`` (:func:`dataset_config`), made on first use."""
    if name == "DatasetConfig":
        return dataset_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
