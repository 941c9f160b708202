"""``dataset.toml`` as a whole: the videos and every section's model.

No step imports this module (each imports only the sections it declares); it serves the
docs generator, the evaluation-time key check (nix/config-keys.json) and ``reelset`` CLI.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from reelset.schemas.base import Strict
from reelset.schemas.bible import BibleConfig
from reelset.schemas.captions import CaptionConfig
from reelset.schemas.device import DeviceConfig
from reelset.schemas.disambiguate import DisambiguateConfig
from reelset.schemas.latents import Ltx2PreprocessConfig, Wan21PreprocessConfig
from reelset.schemas.ltx2_data import Ltx2Config
from reelset.schemas.review import ReviewConfig
from reelset.schemas.scenes import SceneConfig
from reelset.schemas.speakers import SpeakersConfig
from reelset.schemas.train import Ltx2TrainConfig, Wan21TrainConfig
from reelset.schemas.transcript import AsrConfig
from reelset.schemas.wan21_package import Wan21Config


class VideoEntry(Strict):
    """One ``[[videos]]`` entry of dataset.toml (either ``path`` or ``file`` + ``sha256``)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Stable video id used in clip ids and shard names.")
    path: str | None = Field(None, description="File inside the dataset folder (small/committed videos).")
    file: str | None = Field(None, description="File name of a fixed input added to the Nix store.")
    sha256: str | None = Field(None, description="sha256 (hex or SRI) of the fixed input file.")
    url: str | None = Field(None, description="Optional URL the fixed input may be fetched from.")

    @model_validator(mode="after")
    def _one_source(self) -> VideoEntry:
        if (self.path is None) == (self.file is None):
            raise ValueError("set exactly one of 'path' (file in the dataset folder) or 'file' + 'sha256' (fixed input)")
        if self.file is not None and not self.sha256:
            raise ValueError("'file' needs 'sha256' (the fixed input's hash)")
        return self


class DatasetConfig(Strict):
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
    ltx2: Ltx2Config = Field(default_factory=lambda: Ltx2Config(), description="step3-ltx2-data settings (LTX-2 trainer dataset).")
    wan21: Wan21Config = Field(default_factory=lambda: Wan21Config(), description="step3-wan21-package settings (Wan 2.1 dataset).")
    ltx2_preprocess: Ltx2PreprocessConfig = Field(default_factory=lambda: Ltx2PreprocessConfig(), description="step4-ltx2-preprocess settings (latents + text embeddings).")
    wan21_preprocess: Wan21PreprocessConfig = Field(default_factory=lambda: Wan21PreprocessConfig(), description="step4-wan21-preprocess settings (latents + text embeddings).")
    ltx2_train: Ltx2TrainConfig | None = Field(None, description="step5-ltx2-train settings (LoRA); without this section the step is not part of `all`.")
    wan21_train: Wan21TrainConfig | None = Field(None, description="step5-wan21-train settings (LoRA); without this section the step is not part of `all`.")



DatasetConfig.model_rebuild()
