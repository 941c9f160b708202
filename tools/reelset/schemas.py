"""Pydantic schemas of reelset's artifacts: one schema per artifact, shared by all steps.

Steps talk only through these artifacts (``$out/<artifact>.json``). Times are seconds
(float), frame indices are 0-based and ranges are half-open ``[start, end)``.
Every model forbids unknown fields so a stale or hand-edited artifact fails loudly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1


class Strict(BaseModel):
    """Base: unknown fields are an error, fields are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- inputs
class SceneConfig(Strict):
    """``[scenes]`` of dataset.toml: PySceneDetect content detector settings."""

    threshold: float = Field(27.0, gt=0, description="ContentDetector threshold (HSV delta, 0-255 scale); lower finds more cuts.")
    min_scene_len_frames: int = Field(15, ge=1, description="Minimum scene length in frames (at the analysis fps).")
    clip_crf: int = Field(18, ge=0, le=51, description="libx264 CRF of the re-encoded clips.")
    thumbnail_width: int = Field(320, ge=16, description="Thumbnail width in pixels (height keeps the square-pixel aspect).")


class AsrConfig(Strict):
    """``[asr]`` of dataset.toml: faster-whisper settings for step2-transcript-base."""

    model: str | None = Field(None, description="Model name from nix/models.toml (pinned fixed input); Nix resolves it (default faster-whisper-large-v3, nix/steps.nix) and passes the files as models.asr.")
    language: str | None = Field("en", description="ISO 639-1 language code, or null to detect it.")
    beam_size: int = Field(5, ge=1, description="Beam size of the decoder.")
    vad: bool = Field(True, description="Silero VAD filter before decoding (faster-whisper vad_filter).")
    vad_min_silence_ms: int = Field(500, ge=0, description="VAD: minimum silence in milliseconds that splits speech.")
    hotwords: list[str] = Field(default_factory=list, description="Optional words to bias decoding (faster-whisper hotwords). Kept here, not in the bible, so editing the bible never re-runs ASR.")


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
    scenes: SceneConfig = Field(default_factory=SceneConfig)
    asr: AsrConfig = Field(default_factory=AsrConfig)


class StepSpec(Strict):
    """The JSON spec Nix hands a step tool (env ``reelsetSpec``): all inputs are store paths."""

    step: str = Field(description="User-facing step name, e.g. 'step1-scenes'.")
    dataset: str = Field(description="Dataset name.")
    device: Literal["cpu", "cuda"] = Field(description="Device class the step declares (cuda steps fall back to CPU when no GPU is visible).")
    video_id: str | None = Field(None, description="Shard's video id (video-level steps).")
    video: str | None = Field(None, description="Path of the source video (video-level steps).")
    config: dict = Field(default_factory=dict, description="The whole dataset.toml as parsed by Nix.")
    inputs: dict[str, str] = Field(default_factory=dict, description="Upstream step outputs by step name (store paths).")
    models: dict[str, ModelRef] = Field(default_factory=dict, description="Models by role, e.g. {'asr': ...}.")
    toolchain: dict[str, str] = Field(default_factory=dict, description="Toolchain name and fingerprint.")


class ModelRef(Strict):
    """A pinned model: id (hub repo), revision, and the store path of its files."""

    name: str = Field(description="reelset model name (key in nix/models.nix).")
    repo: str = Field(description="Hub repository id, e.g. 'Systran/faster-whisper-large-v3'.")
    revision: str = Field(description="Pinned revision (commit) or the package it comes from.")
    path: str = Field(description="Directory holding the model files (store path).")


StepSpec.model_rebuild()


# --------------------------------------------------------------------------- meta
class StepMeta(Strict):
    """``$out/meta.json`` of every step: provenance, timings and counts."""

    schema_version: int = SCHEMA_VERSION
    step: str = Field(description="Step name.")
    dataset: str = Field(description="Dataset name.")
    shard: str | None = Field(None, description="Video id of the shard, or null for a dataset-level output.")
    tool_sha256: str = Field(description="sha256 over the step's source files (relative path + bytes).")
    toolchain: dict[str, str] = Field(default_factory=dict, description="Toolchain name and fingerprint.")
    device: str = Field(description="Device actually used ('cpu' or 'cuda:N').")
    models: list[ModelRef] = Field(default_factory=list, description="Models used.")
    timings_s: dict[str, float] = Field(default_factory=dict, description="Wall time per phase, seconds.")
    counts: dict[str, int] = Field(default_factory=dict, description="Counts of what was made (scenes, words, ...).")
    versions: dict[str, str] = Field(default_factory=dict, description="Versions of the libraries and programs used.")


# --------------------------------------------------------------------------- step1-scenes
class VideoInfo(Strict):
    """What ffprobe says of a source video (first video stream)."""

    file: str = Field(description="File name of the source (no directory).")
    container: str = Field(description="ffprobe format_name.")
    codec: str = Field(description="Video codec name.")
    width: int = Field(description="Coded width in pixels.")
    height: int = Field(description="Coded height in pixels.")
    sample_aspect_ratio: str = Field(description="SAR as 'num:den' ('1:1' for square pixels).")
    display_width: int = Field(description="Width in square pixels (width x SAR, even).")
    fps: float = Field(description="Average frame rate, frames per second.")
    fps_rational: str = Field(description="Average frame rate as ffprobe's 'num/den'.")
    vfr: bool = Field(description="True when frame durations vary (variable frame rate).")
    duration_s: float = Field(description="Duration in seconds.")
    has_audio: bool = Field(description="True when the file has an audio stream.")
    other_streams: list[str] = Field(default_factory=list, description="Codec types of ignored streams (subtitle, attachment, data).")


class Scene(Strict):
    """One detected scene (a shot between two cuts) and its clip."""

    index: int = Field(ge=0, description="0-based scene index in the video.")
    clip_id: str = Field(description="Stable id '<video_id>-s<NNNN>' (1-based).")
    start_frame: int = Field(ge=0, description="First frame (inclusive), at the analysis fps.")
    end_frame: int = Field(description="End frame (exclusive), at the analysis fps.")
    frame_count: int = Field(ge=1, description="end_frame - start_frame; also the clip's frame count.")
    start_s: float = Field(ge=0, description="Start time in seconds (start_frame / fps).")
    end_s: float = Field(description="End time in seconds (end_frame / fps).")
    clip: str = Field(description="Clip path relative to the step output (H.264 MP4, square pixels).")
    thumbnail: str = Field(description="JPEG of the clip's first frame, relative path.")
    width: int = Field(description="Clip width in pixels.")
    height: int = Field(description="Clip height in pixels.")

    @model_validator(mode="after")
    def _consistent(self) -> Scene:
        if self.end_frame - self.start_frame != self.frame_count:
            raise ValueError("frame_count must equal end_frame - start_frame")
        return self


class ScenesArtifact(Strict):
    """``$out/scenes.json`` of step1-scenes (one source video)."""

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id from dataset.toml.")
    source: VideoInfo
    analysis_fps: float = Field(description="Frame rate of the frame grid scenes are indexed on (the source's; VFR sources are first resampled to it).")
    total_frames: int = Field(description="Frames on that grid.")
    detector: dict[str, float | int | str] = Field(description="Detector name and settings.")
    scenes: list[Scene]


# --------------------------------------------------------------------------- step2-transcript-base
class Word(Strict):
    """One recognised word with its timing (seconds) and probability (0-1)."""

    word: str
    start: float
    end: float
    probability: float = Field(ge=0, le=1)


class Segment(Strict):
    """One ASR segment (faster-whisper), times in seconds."""

    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: list[Word]


class TranscriptArtifact(Strict):
    """``$out/transcript.json`` of step2-transcript-base (one source video)."""

    schema_version: int = SCHEMA_VERSION
    video_id: str
    has_audio: bool = Field(description="False when the source has no audio stream (then segments is empty).")
    language: str | None = Field(description="Language code used or detected.")
    language_probability: float | None = None
    model: ModelRef | None = Field(description="ASR model (null when there was no audio).")
    compute_type: str | None = Field(description="CTranslate2 compute type, e.g. 'int8' or 'float16'.")
    device: str = Field(description="'cpu' or 'cuda'.")
    audio_duration_s: float = Field(ge=0, description="Decoded audio length in seconds.")
    processing_s: float = Field(ge=0, description="Wall time of model load + decode + ASR, seconds.")
    rtf: float | None = Field(description="Real-time factor: processing_s / audio_duration_s (lower is faster).")
    vad: dict[str, float | int | bool] = Field(description="VAD settings.")
    speech_regions: list[tuple[float, float]] = Field(description="VAD speech regions [start, end] in seconds.")
    hotwords: list[str] = Field(default_factory=list)
    segments: list[Segment]


ARTIFACTS: dict[str, type[BaseModel]] = {
    "scenes.json": ScenesArtifact,
    "transcript.json": TranscriptArtifact,
    "meta.json": StepMeta,
}


# --------------------------------------------------------------------------- aggregates
class AggregateMember(Strict):
    """One linked output of an aggregate: a shard (video id) or a step."""

    name: str = Field(description="Video id (shards) or step name (steps).")
    link: str = Field(description="Relative path of the symlink to the member's store path.")
    path: str = Field(description="Store path of the member.")
    counts: dict[str, int] = Field(default_factory=dict, description="The member's meta.json counts.")


class AggregateArtifact(Strict):
    """``$out/aggregate.json``: a video-level step over the whole dataset (kind 'shards') or
    a dataset's step outputs (kind 'steps', e.g. ``.#host.demo``)."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["shards", "steps"]
    step: str = Field(description="Aggregated step name, or 'pipeline' for kind 'steps'.")
    dataset: str
    members: list[AggregateMember]


ARTIFACTS["aggregate.json"] = AggregateArtifact
