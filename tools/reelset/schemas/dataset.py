"""``dataset.toml`` as a whole: the videos and every section's model.

No step imports this module (each imports only the sections it declares); it serves the
docs generator, the evaluation-time key check (nix/config-keys.json) and ``reelset`` CLI.
"""

from __future__ import annotations

from pydantic import Field, create_model, model_validator

from reelset import families
from reelset.schemas.base import Strict
from reelset.schemas.bible import BibleConfig
from reelset.schemas.captions import CaptionConfig
from reelset.schemas.device import DeviceConfig
from reelset.schemas.disambiguate import DisambiguateConfig
from reelset.schemas.repeats import RepeatsConfig
from reelset.schemas.review import ReviewConfig
from reelset.schemas.scenes import SceneConfig
from reelset.schemas.speakers import SpeakersConfig
from reelset.schemas.stills import StillsConfig
from reelset.schemas.transcript import AsrConfig


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
    device: DeviceConfig = Field(default_factory=lambda: DeviceConfig(), description="Device policy of the cuda steps: a GPU is required unless allow_cpu = true.")
    scenes: SceneConfig = Field(default_factory=SceneConfig)
    asr: AsrConfig = Field(default_factory=AsrConfig)
    speakers: SpeakersConfig = Field(default_factory=lambda: SpeakersConfig(), description="step2-speakers settings (speaker encoder, naming thresholds).")
    bible: BibleConfig = Field(default_factory=lambda: BibleConfig(), description="Where the series bible is (read by Nix).")
    disambiguate: DisambiguateConfig = Field(default_factory=lambda: DisambiguateConfig(), description="step2-transcript-disambiguate settings.")
    caption: CaptionConfig = Field(default_factory=lambda: CaptionConfig(), description="step2-caption settings (VLM captions).")
    review: ReviewConfig = Field(default_factory=lambda: ReviewConfig(), description="step2-reviewed settings (automatic QA, review.json).")
    repeats: RepeatsConfig = Field(default_factory=lambda: RepeatsConfig(), description="Repeats across videos (intro, recap, credits): grouped by step2-reviewed's gathering; keep one copy or all.")
    stills: StillsConfig | None = Field(None, description="step3-stills settings (the best frames of each character as an image dataset); without this section the step is not part of `all`.")


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


DatasetConfig = create_model("DatasetConfig", __base__=_DatasetBase, __module__=__name__, **family_sections())
DatasetConfig.__doc__ = _DatasetBase.__doc__
