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
    cpu_threads: int = Field(4, ge=1, description="CTranslate2 threads on the CPU (CTranslate2's default is 4).")
    seed: int = Field(0, ge=0, description="Random seed of CTranslate2's sampling. faster-whisper falls back to sampling at temperature > 0 when a window decodes badly (compression ratio / log-probability thresholds); without a fixed seed the same file gave different words from run to run (measured on espeak-ng speech with tiny.en).")
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
    files: dict[str, str] = Field(default_factory=dict, description="Dataset-folder files the step declares, by role (store paths), e.g. {'bible': '/nix/store/…-bible.yaml'}.")
    videos: dict[str, str] = Field(default_factory=dict, description="All source videos by id (store paths), for dataset-level steps that declare `videos = true`.")


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


# --------------------------------------------------------------------------- step inputs (issue 4)
class DisambiguateConfig(Strict):
    """``[disambiguate]`` of dataset.toml: step2-transcript-disambiguate settings."""

    conditioned: bool = Field(True, description="Run the bible-conditioned re-decoding pass (faster-whisper with the bible's terms as hotwords + initial_prompt).")
    lexical: bool = Field(True, description="Run the lexical pass (phonetic + fuzzy matching of low-probability words and n-grams against bible terms).")
    lexical_max_probability: float = Field(0.75, ge=0, le=1, description="Lexical pass: only words whose ASR probability is below this (0-1) are candidates.")
    lexical_min_similarity: float = Field(0.8, ge=0, le=1, description="Lexical pass: minimum Jaro-Winkler similarity (rapidfuzz, 0-1) between a candidate (word or n-gram, letters only) and a bible term; the two must also share their Metaphone or NYSIIS code (jellyfish).")
    keep_confident: float = Field(0.9, ge=0, le=1, description="Conditioned pass: a base word heard with at least this probability (0-1) is replaced by a bible term only if it sounds like it (same Metaphone/NYSIIS code).")
    lexical_ngram: int = Field(3, ge=1, le=5, description="Lexical pass: longest n-gram (words) compared with bible terms.")
    vlm: str = Field("qwen2.5-vl-7b-instruct", description="Model of the multimodal pass: a key of nix/models.toml (resolved by Nix; e.g. 'tiny-qwen2.5-vl' for tests, a Qwen2.5-Omni entry to add the audio).")
    model: bool = Field(True, description="Run the multimodal pass (VLM with the segment's frames, the reference shots and the bible: corrections + speaker attribution).")
    model_frames: int = Field(4, ge=1, le=16, description="Multimodal pass: frames per segment, evenly spaced over its time span (sent as one video).")
    model_max_pixels: int = Field(128 * 28 * 28, ge=4 * 28 * 28, description="Multimodal pass: pixel budget per image / frame (one token per 28x28 pixels).")
    model_batch_size: int = Field(4, ge=1, description="Multimodal pass: segments per generate call.")
    model_max_new_tokens: int = Field(192, ge=8, description="Multimodal pass: token budget of one answer.")
    model_min_confidence: float = Field(0.5, ge=0, le=1, description="Multimodal pass: answers with a lower confidence (0-1) change no text and attribute no speaker (recorded, not applied).")
    model_audio: bool = Field(True, description="Multimodal pass: give the segment's audio to models that take audio (Qwen2.5-Omni); ignored for Qwen2.5-VL.")



class BibleConfig(Strict):
    """``[bible]`` of dataset.toml (read by Nix, nix/pipeline.nix: the file becomes spec.files.bible)."""

    file: str = Field("bible.yaml", description="The series bible, relative to the dataset folder.")


# --------------------------------------------------------------------------- step3 packaging (issue 6)
def _size(text: str, parts: int) -> tuple[int, ...]:
    """'960x544x49' → (960, 544, 49); ValueError naming the expected form."""
    try:
        values = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        values = ()
    if len(values) != parts or min(values) < 1:
        raise ValueError(f"{text!r} is not {'WxHxF' if parts == 3 else 'WxH'} (positive integers, e.g. "
                         f"{'960x544x49' if parts == 3 else '832x480'})")
    return values


class Ltx2Config(Strict):
    """``[ltx2]`` of dataset.toml: step3-ltx2-data (LTX-2 trainer, Lightricks/LTX-2
    packages/ltx-trainer/docs/dataset-preparation.md)."""

    fps: Literal[24, 25] = Field(24, description="Target frame rate, frames per second (LTX-2 trains at 24 or 25 fps); clips are resampled to it.")
    buckets: list[str] = Field(default_factory=lambda: ["960x544x97", "960x544x49", "960x544x25"], min_length=1, description="Resolution buckets 'WxHxF' (pixels, pixels, frames): W and H multiples of 32, F = 8n+1 (ltx-trainer docs). Each clip goes to the bucket of nearest aspect ratio among those with F <= its frames at `fps` (ties: more frames, then larger area), as the trainer assigns them; clips shorter than every bucket are dropped. Several buckets need batch size 1 in the trainer.")
    metadata_format: Literal["json", "jsonl", "csv"] = Field("json", description="Metadata file written next to the clips: dataset.json / dataset.jsonl / dataset.csv with columns `caption` and `video` (path relative to the metadata file).")
    prepend_trigger: bool = Field(False, description="Prepend the bible's trigger word to every caption. Off by default: ltx-trainer's process_dataset.py --lora-trigger prepends it itself (both would double it).")
    audio: bool = Field(True, description="Keep the clip's audio (AAC 48 kHz stereo, cut to the written frames); LTX-2 is an audio-video model and extracts audio from the video file.")
    crf: int = Field(18, ge=0, le=51, description="libx264 CRF of the written clips.")

    @model_validator(mode="after")
    def _rules(self) -> Ltx2Config:
        for b in self.buckets:
            w, h, f = _size(b, 3)
            if w % 32 or h % 32:
                raise ValueError(f"bucket {b!r}: width and height must be multiples of 32 (LTX-2 VAE spatial factor)")
            if f % 8 != 1:
                raise ValueError(f"bucket {b!r}: frames must be 8n+1 (1, 9, 17, 25, ..., 97, 121; LTX-2 VAE temporal factor 8)")
        if len(set(self.buckets)) != len(self.buckets):
            raise ValueError("buckets: duplicate entries")
        return self


class Wan21Config(Strict):
    """``[wan21]`` of dataset.toml: step3-wan21-package (Wan 2.1 trainers: DiffSynth-Studio,
    musubi-tuner, diffusion-pipe)."""

    fps: float = Field(16.0, gt=0, description="Target frame rate, frames per second (Wan 2.1 is trained at 16 fps; musubi-tuner docs recommend 16 fps videos).")
    max_frames: int = Field(81, ge=1, description="Most frames per clip, 4n+1 (Wan 2.1's default 81 = 5 s at 16 fps); longer clips are trimmed from the end.")
    min_frames: int = Field(17, ge=1, description="Fewest frames per clip, 4n+1; a clip with fewer frames at `fps` is dropped (reason in manifest.json).")
    sizes: list[str] = Field(default_factory=lambda: ["832x480", "480x832"], min_length=1, description="Output sizes 'WxH' (pixels, multiples of 16); each clip gets the size of nearest aspect ratio (ties: larger area), scaled to cover and center-cropped.")
    prepend_trigger: bool = Field(True, description="Prepend the bible's trigger word to every caption (metadata.csv and .txt sidecars; these trainers have no trigger option).")
    audio: bool = Field(False, description="Keep the clip's audio (AAC); Wan 2.1 is video-only, so off by default.")
    crf: int = Field(18, ge=0, le=51, description="libx264 CRF of the written clips.")

    @model_validator(mode="after")
    def _rules(self) -> Wan21Config:
        for name in ("max_frames", "min_frames"):
            if getattr(self, name) % 4 != 1:
                raise ValueError(f"{name} = {getattr(self, name)}: must be 4n+1 (5, 9, ..., 81; Wan 2.1 VAE temporal factor 4)")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} > max_frames {self.max_frames}")
        for s in self.sizes:
            w, h = _size(s, 2)
            if w % 16 or h % 16:
                raise ValueError(f"size {s!r}: width and height must be multiples of 16 (Wan 2.1)")
        return self


# [caption] and [review] (issue 5): step2-caption, step2-reviewed
class CaptionConfig(Strict):
    """``[caption]`` of dataset.toml: step2-caption (VLM captions per clip)."""

    model: str | None = Field(None, description="Model name from nix/models.toml; Nix resolves it (default qwen2.5-vl-7b-instruct, nix/steps.nix) and passes its directory as models.vlm.")
    fps: float = Field(2.0, gt=0, le=30, description="Frames per second sampled from each clip (ffmpeg fps filter) and given to the VLM as one video.")
    max_frames: int = Field(16, ge=2, le=256, description="Most frames per clip; a long clip is sampled at a lower rate so that its frames still span the whole clip.")
    max_pixels: int = Field(256 * 28 * 28, ge=4 * 28 * 28, description="Pixel budget per frame (qwen-vl-utils resizes each frame to at most this many pixels, multiples of 28; one merged 28x28 patch = one token per frame pair).")
    min_pixels: int = Field(4 * 28 * 28, ge=28 * 28, description="Smallest pixel count per frame (qwen-vl-utils).")
    batch_size: int = Field(4, ge=1, description="Clips per generate call (left-padded batch).")
    max_new_tokens: int = Field(192, ge=16, description="Most tokens generated per clip.")
    max_words: int = Field(80, ge=5, description="Caption length asked for in the prompt, words (step2-reviewed enforces [review] max_words).")

    @model_validator(mode="after")
    def _pixels(self) -> CaptionConfig:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        return self


class ReviewConfig(Strict):
    """``[review]`` of dataset.toml: automatic QA of step2-reviewed (a flagged clip is rejected
    unless a review decision accepts it)."""

    file: str = Field("review.json", description="The review decisions, relative to the dataset folder (read by Nix; optional).")
    min_clip_s: float = Field(1.1, ge=0, description="Shortest clip kept, seconds (LTX-2's smallest bucket is 25 frames at 24 fps = 1.04 s; Wan 2.1's 17 frames at 16 fps = 1.06 s).")
    max_clip_s: float = Field(30.0, gt=0, description="Longest clip kept, seconds (packaging trims clips to a few seconds; a longer shot mostly goes unused).")
    black_max_fraction: float = Field(0.25, ge=0, le=1, description="Flag a clip when more than this fraction (0-1) of its duration is black (ffmpeg blackdetect).")
    black_pixel_threshold: float = Field(0.10, ge=0, le=1, description="blackdetect pix_th: luminance (0-1) below which a pixel counts as black.")
    black_picture_ratio: float = Field(0.98, ge=0, le=1, description="blackdetect pic_th: fraction of black pixels (0-1) that makes a frame black.")
    freeze_max_fraction: float = Field(0.5, ge=0, le=1, description="Flag a clip when more than this fraction (0-1) of its duration is frozen (ffmpeg freezedetect).")
    freeze_noise_db: float = Field(-60.0, le=0, description="freezedetect noise tolerance, dB (ffmpeg's default -60 dB = 0.001).")
    freeze_min_s: float = Field(0.5, gt=0, description="freezedetect d: shortest still stretch detected, seconds.")
    min_words: int = Field(5, ge=0, description="Fewest words in a caption (trigger word not counted).")
    max_words: int = Field(120, ge=1, description="Most words in a caption (trigger word not counted).")
    require_trigger_word: bool = Field(True, description="Flag a caption that lacks the bible's trigger word (as a whole word).")
    check_names: bool = Field(True, description="Flag a caption naming a bible character (name or alias) that the clip's scene context does not list.")

    @model_validator(mode="after")
    def _ranges(self) -> ReviewConfig:
        if self.min_clip_s >= self.max_clip_s:
            raise ValueError(f"min_clip_s {self.min_clip_s} must be below max_clip_s {self.max_clip_s}")
        if self.min_words > self.max_words:
            raise ValueError(f"min_words {self.min_words} > max_words {self.max_words}")
        return self


# DatasetConfig.model_rebuild(): at the end of this module (its sections are defined below)


# --------------------------------------------------------------------------- step2-bible
VIDEO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ReferenceShot(Strict):
    """A frame of a source video that shows a character or place (``pipelines/<name>/bible.yaml``)."""

    video: str = Field(pattern=VIDEO_ID_PATTERN, description="Video id from dataset.toml [[videos]] (e.g. 'demo01').")
    t: float = Field(ge=0, description="Timestamp of the frame in seconds from the start of the video (must lie inside the video).")
    note: str = Field("", description="Free text: what the shot shows (e.g. 'close-up, left of frame').")


class Character(Strict):
    """A character of the series: its canonical spelling, other names, look and voice."""

    name: str = Field(min_length=1, description="Canonical name as captions must spell it (e.g. 'Malory').")
    aliases: list[str] = Field(default_factory=list, description="Other correct names for the same character (nicknames, surname, 'Mrs. Archer').")
    description: str = Field("", description="Short visual description for the captioner and the VLM (clothes, hair, build).")
    voice: str = Field("", description="Voice notes (e.g. 'low male voice, US accent'); given to the multimodal pass for speaker attribution.")
    mishearings: list[str] = Field(default_factory=list, description="Wrong spellings/phrases ASR produced for this name in practice (e.g. 'Mallory'); replaced by the lexical pass.")
    reference_shots: list[ReferenceShot] = Field(default_factory=list, description="Frames that show the character (video id + timestamp in seconds).")


class Place(Strict):
    """A place of the series (city, set, location)."""

    name: str = Field(min_length=1, description="Canonical name of the place (e.g. 'Moscow').")
    aliases: list[str] = Field(default_factory=list, description="Other correct names of the place.")
    description: str = Field("", description="Short visual description of the place.")
    mishearings: list[str] = Field(default_factory=list, description="Wrong spellings ASR produced for this place in practice.")
    reference_shots: list[ReferenceShot] = Field(default_factory=list, description="Frames that show the place (video id + timestamp in seconds).")


class GlossaryTerm(Strict):
    """A series-specific word (organisation, object, jargon) that ASR should spell this way."""

    term: str = Field(min_length=1, description="Correct spelling of the term (e.g. 'ISIS').")
    mishearings: list[str] = Field(default_factory=list, description="Wrong spellings/phrases ASR produced for the term in practice.")
    note: str = Field("", description="What the term means (given to the captioner and the VLM).")


class Bible(Strict):
    """``pipelines/<name>/bible.yaml``: the series bible (authored by hand, validated by step2-bible)."""

    series: str = Field("", description="Series title (free text, used in prompts).")
    trigger_word: str = Field(min_length=1, pattern=r"^\S+$", description="LoRA trigger word prefixed to captions (one token, no spaces, e.g. 'rsdemo').")
    characters: list[Character] = Field(min_length=1, description="The characters; names and aliases are unique across characters and places (case-insensitive).")
    places: list[Place] = Field(default_factory=list, description="Known places.")
    glossary: list[GlossaryTerm] = Field(default_factory=list, description="Other terms ASR must spell correctly.")
    caption_style: list[str] = Field(default_factory=list, description="Caption style rules for the captioner (free text, one rule per entry).")


class BibleTerm(Strict):
    """One spelling the disambiguation passes know: a name/alias (correct) or a listed mis-hearing."""

    text: str = Field(description="The spelling as written in the bible (a correct term, or a mis-hearing).")
    canonical: str = Field(description="What ``text`` stands for: the character/place name or glossary term (for aliases: the alias itself is correct, canonical names its owner).")
    kind: Literal["character", "place", "glossary"] = Field(description="What the term names.")
    role: Literal["name", "alias", "mishearing"] = Field(description="'name'/'alias': a correct spelling; 'mishearing': a wrong one, to be replaced by ``canonical``.")


class BibleArtifact(Strict):
    """``$out/bible.json`` of step2-bible: the validated, normalized bible plus a flat term list."""

    schema_version: int = SCHEMA_VERSION
    source: str = Field(description="File name of the authored bible (e.g. 'bible.yaml').")
    source_sha256: str = Field(description="sha256 (hex) of the authored file's bytes.")
    bible: Bible = Field(description="The bible, normalized (whitespace collapsed, duplicate aliases/mis-hearings dropped).")
    terms: list[BibleTerm] = Field(description="Every spelling of every character, place and glossary term (correct ones first), for matching.")


ARTIFACTS["bible.json"] = BibleArtifact


# --------------------------------------------------------------------------- step2-shot-reference
class ReferenceFrame(Strict):
    """One extracted reference frame."""

    subject: str = Field(description="Character or place name (canonical).")
    kind: Literal["character", "place"] = Field(description="What the subject is.")
    video: str = Field(description="Video id the frame comes from.")
    t: float = Field(ge=0, description="Requested timestamp in seconds.")
    frame_index: int = Field(ge=0, description="0-based index of the extracted frame (the frame shown at t: the last frame starting at or before t).")
    frame_t: float = Field(ge=0, description="Presentation time of the extracted frame, seconds (<= t < next frame's time).")
    image: str = Field(description="PNG path relative to the step output ('<kind>s/<subject>/<video>-<t>.png').")
    width: int = Field(description="Image width in pixels (square pixels: source width x SAR).")
    height: int = Field(description="Image height in pixels.")
    note: str = Field("", description="The bible's note for the shot.")


class ShotReferenceArtifact(Strict):
    """``$out/references.json`` of step2-shot-reference (whole dataset)."""

    schema_version: int = SCHEMA_VERSION
    frames: list[ReferenceFrame] = Field(description="Every reference shot of the bible, in bible order.")
    contact_sheet: str = Field(description="Relative path of the contact sheet image (all frames in a grid, JPEG).")


ARTIFACTS["references.json"] = ShotReferenceArtifact


# --------------------------------------------------------------------------- step2-transcript-disambiguate
class AuditEntry(Strict):
    """One change (or one considered change) of the disambiguation passes."""

    segment: int = Field(description="Segment id the change belongs to.")
    pass_: Literal["conditioned", "lexical", "model"] = Field(alias="pass", description="Pass that proposed it: 'conditioned' (bible-conditioned re-decoding), 'lexical' (phonetic + fuzzy match), 'model' (multimodal VLM).")
    action: Literal["applied", "alternative", "rejected", "fallback"] = Field(description="'applied': the text changed; 'alternative': kept aside, not applied; 'rejected': a model proposal that failed a check; 'fallback': the pass's output was unusable and the earlier text was kept.")
    before: str = Field(description="Words before the change ('' for an insertion).")
    after: str = Field(description="Words after the change ('' for a deletion).")
    start: float | None = Field(None, description="Start of the changed words, seconds (null when not tied to words).")
    end: float | None = Field(None, description="End of the changed words, seconds.")
    reason: str = Field(description="Why (which bible term, which score, or why the output was unusable).")
    term: str | None = Field(None, description="The bible term (canonical) involved, if any.")
    probabilities_before: list[float] = Field(default_factory=list, description="ASR probabilities (0-1) of the words before the change.")
    probabilities_after: list[float] = Field(default_factory=list, description="ASR probabilities (0-1) of the words after the change (conditioned pass).")
    confidence: float = Field(ge=0, le=1, description="Confidence of the change, 0-1 (conditioned: mean word probability of the new words; lexical: match score / 100; model: the model's own).")

    # JSON key is "pass" (a Python keyword): read and written by alias
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True, serialize_by_alias=True)


class CorrectedWord(Strict):
    """A word of the corrected transcript (times in seconds, probability 0-1)."""

    word: str = Field(description="The word as it should be written.")
    start: float = Field(description="Start, seconds.")
    end: float = Field(description="End, seconds.")
    probability: float = Field(ge=0, le=1, description="ASR probability of the word (for replaced words: of the pass that supplied it).")
    source: Literal["base", "conditioned", "lexical", "model"] = Field(description="Which pass supplied the word ('base': unchanged).")


class SpeakerAttribution(Strict):
    """Who speaks a segment, according to the multimodal pass."""

    speaker: str = Field(description="Canonical character name, or 'unknown'.")
    confidence: float = Field(ge=0, le=1, description="Confidence 0-1 (0 when unknown or the model's output was unusable).")
    source: Literal["model", "none"] = Field(description="'model': the VLM said so; 'none': no usable attribution.")


class CorrectedSegment(Strict):
    """One segment: the base transcript's text and the corrected text, with word timing."""

    id: int = Field(description="Segment id (that of step2-transcript-base).")
    start: float = Field(description="Start, seconds.")
    end: float = Field(description="End, seconds.")
    original: str = Field(description="Text of step2-transcript-base.")
    text: str = Field(description="Corrected text.")
    words: list[CorrectedWord] = Field(description="Corrected words with timing.")
    original_words: list[Word] = Field(description="Words of step2-transcript-base.")
    speaker: SpeakerAttribution = Field(description="Speaker attribution (multimodal pass).")


class ModelSegmentAnswer(BaseModel):
    """What the multimodal pass asks the VLM for, per segment (stated as JSON schema in the
    prompt; the answer is validated against this model; extra keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    speaker: str = Field(description="Canonical name of the character speaking (from the bible), or 'unknown'.")
    confidence: float = Field(ge=0, le=1, description="Confidence 0-1 in the speaker and the text.")
    text: str = Field(description="The segment's transcript with names, places and terms spelled as in the bible; otherwise unchanged.")


class PassSummary(Strict):
    """What one pass did."""

    name: Literal["conditioned", "lexical", "model"] = Field(description="Pass name.")
    ran: bool = Field(description="False when disabled in [disambiguate] (or no model configured).")
    applied: int = Field(ge=0, description="Changes applied.")
    alternatives: int = Field(ge=0, description="Differences kept as alternatives (not applied).")
    fallbacks: int = Field(ge=0, description="Outputs that were unusable (earlier text kept).")
    seconds: float = Field(ge=0, description="Wall time of the pass, seconds.")
    detail: str = Field("", description="Settings or reason the pass did not run.")


class DisambiguatedTranscript(Strict):
    """``$out/corrected_transcript.json`` of step2-transcript-disambiguate (one source video).

    Named apart from step2-transcript-base's ``transcript.json`` because ARTIFACTS maps a
    file name to exactly one schema."""

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id.")
    bible_sha256: str = Field(description="sha256 of the bible.yaml the corrections used.")
    hotwords: str = Field(description="The hotwords string given to faster-whisper (conditioned pass).")
    initial_prompt: str = Field(description="The initial_prompt given to faster-whisper (conditioned pass).")
    conditioned_text: list[str] = Field(description="Raw segment texts of the conditioned re-decoding (for inspection).")
    passes: list[PassSummary] = Field(description="One summary per pass, in order.")
    segments: list[CorrectedSegment] = Field(description="Segments with original and corrected text.")
    audit: list[AuditEntry] = Field(description="Every change and every kept alternative, in order.")


ARTIFACTS["corrected_transcript.json"] = DisambiguatedTranscript


# --------------------------------------------------------------------------- step2-scene-context
class ContextLine(Strict):
    """A corrected dialogue line (or part of one) spoken inside a clip."""

    start: float = Field(description="Start of the first word inside the clip, seconds (video time).")
    end: float = Field(description="End of the last word inside the clip, seconds.")
    speaker: str = Field(description="Canonical character name, or 'unknown'.")
    text: str = Field(description="Corrected words whose midpoint lies inside the clip.")


class ClipContext(Strict):
    """Context of one clip for the captioner."""

    clip_id: str = Field(description="Clip id from step1-scenes.")
    start_s: float = Field(description="Clip start, seconds.")
    end_s: float = Field(description="Clip end, seconds.")
    characters: list[str] = Field(description="Characters present: attributed speakers + characters named in the clip's dialogue (canonical names, bible order).")
    character_evidence: dict[str, list[str]] = Field(description="Per character, why it is listed ('speaker', 'named in dialogue', 'reference shot').")
    place: str | None = Field(description="Place named in the clip's dialogue or shown by a reference shot inside the clip, if any.")
    lines: list[ContextLine] = Field(description="Corrected dialogue inside the clip (by word timestamps).")
    context: str = Field(description="Short context string for the captioner.")


class SceneContextArtifact(Strict):
    """``$out/context.json`` of step2-scene-context (one source video)."""

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id.")
    trigger_word: str = Field(description="The bible's LoRA trigger word.")
    clips: list[ClipContext] = Field(description="One entry per step1-scenes clip, in order.")


ARTIFACTS["context.json"] = SceneContextArtifact


# --------------------------------------------------------------------------- step2-caption (issue 5)
SHOT_TYPES = ("extreme close-up", "close-up", "medium close-up", "medium", "medium wide", "wide", "extreme wide", "unknown")
CAMERA_MOTIONS = ("static", "pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "dolly in",
                  "dolly out", "tracking", "handheld", "unknown")


class CaptionClip(Strict):
    """The caption of one clip and how it was made."""

    clip_id: str = Field(description="Clip id from step1-scenes (the join key).")
    video_id: str = Field(description="Source video id.")
    clip_path: str = Field(description="Absolute path of the clip (the step1-scenes shard's clips/<clip_id>.mp4; a store path inside Nix).")
    thumbnail: str = Field(description="Animated preview of the sampled frames (WebP), relative to the step output.")
    start_s: float = Field(ge=0, description="Clip start in the source video, seconds.")
    end_s: float = Field(description="Clip end, seconds.")
    frames: int = Field(ge=1, description="Frames sampled and given to the model.")
    sample_fps: float = Field(gt=0, description="Rate the frames were sampled at, frames per second (lower than [caption] fps when max_frames capped it).")
    caption: str = Field(description="The caption ('' when the model's answer was unusable, see `error`).")
    shot_type: str = Field(description=f"Shot type, one of {', '.join(SHOT_TYPES)}.")
    camera_motion: str = Field(description=f"Camera motion, one of {', '.join(CAMERA_MOTIONS)}.")
    characters: list[str] = Field(description="Canonical names of the bible characters the caption names (by name or alias, whole words).")
    context: str = Field(description="The clip's scene context (step2-scene-context) given in the prompt.")
    context_characters: list[str] = Field(description="Characters the scene context lists for the clip (canonical names).")
    place: str | None = Field(None, description="Place of the scene context, if any.")
    model_characters: list[str] = Field(default_factory=list, description="The characters the model listed in its answer (as written).")
    status: Literal["ok", "fallback"] = Field(description="'fallback': the answer was no valid JSON of the asked form; caption is '' and `error` says why.")
    error: str | None = Field(None, description="Why the answer was unusable.")
    raw: str = Field(description="The model's answer as generated (at most 2000 characters).")
    prompt: str = Field(description="The text prompt (the frames come before it in the user message).")
    prompt_sha256: str = Field(description="sha256 (hex) of the prompt text.")
    prompt_tokens: int = Field(ge=0, description="Input tokens of this clip, frame tokens included.")
    new_tokens: int = Field(ge=0, description="Generated tokens.")
    hit_limit: bool = Field(description="True when generation stopped at max_new_tokens.")
    seconds: float = Field(ge=0, description="This clip's share of its batch's generate wall time, seconds.")


class CaptionsArtifact(Strict):
    """``$out/captions.json`` of step2-caption (one source video): one caption per clip."""

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id.")
    model: ModelRef = Field(description="The VLM.")
    device: str = Field(description="'cpu' or 'cuda'.")
    trigger_word: str = Field(description="The bible's LoRA trigger word (the prompt asks for it).")
    caption_style: list[str] = Field(description="The bible's caption style rules given in the prompt.")
    names: dict[str, list[str]] = Field(description="Every bible character: canonical name → aliases (what counts as naming a character).")
    config: CaptionConfig = Field(description="The validated [caption] section used.")
    clips: list[CaptionClip] = Field(description="One entry per step1-scenes clip, in order.")


ARTIFACTS["captions.json"] = CaptionsArtifact


# --------------------------------------------------------------------------- review (issue 5)
class ReviewDecision(Strict):
    """One entry of ``pipelines/<name>/review.json``: a reviewer's decision on one clip, made
    against one caption (its sha256), so a decision on a caption that changed since is stale."""

    caption_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 (hex) of the model caption the decision was made on (captions.json).")
    action: Literal["accept", "reject", "edit"] = Field(description="'accept': keep the clip with the model caption (overrides automatic QA flags); 'reject': leave it out (needs `reason`); 'edit': keep it with `caption` (media QA flags overridden, caption checks re-run on the new text).")
    reason: str | None = Field(None, description="Why a clip is rejected (required for 'reject').")
    caption: str | None = Field(None, description="The reviewer's caption (required for 'edit').")
    updated: str | None = Field(None, description="When the decision was made (ISO 8601, informational).")

    @model_validator(mode="after")
    def _complete(self) -> ReviewDecision:
        if self.action == "reject" and not (self.reason or "").strip():
            raise ValueError("action 'reject' needs a non-empty 'reason'")
        if self.action == "edit" and not (self.caption or "").strip():
            raise ValueError("action 'edit' needs a non-empty 'caption'")
        return self


class ReviewFile(Strict):
    """``pipelines/<name>/review.json``: review decisions keyed by clip id (written by
    ``tools/review.py serve``; may be edited by hand)."""

    schema_version: int = SCHEMA_VERSION
    decisions: dict[str, ReviewDecision] = Field(default_factory=dict, description="Decision per clip id.")


class QAFlag(Strict):
    """One automatic QA finding on a clip."""

    check: Literal["too_short", "too_long", "black", "frozen", "caption_empty", "caption_short", "caption_long",
                   "unknown_name", "trigger_missing"] = Field(description="Which check.")
    detail: str = Field(description="Human-readable finding, e.g. 'black frames: 1.20 s of 2.00 s (60 %)'.")


class ClipQA(Strict):
    """Automatic QA and the review decision of one clip (step2-reviewed)."""

    clip_id: str
    video_id: str
    flags: list[QAFlag] = Field(description="Automatic QA findings on the clip and the final caption.")
    decision: Literal["accept", "reject", "edit"] | None = Field(None, description="The review decision applied (null: none, or stale).")
    overridden: list[str] = Field(default_factory=list, description="Flags a review decision overrode (accepted anyway).")
    accepted: bool = Field(description="In the accepted set.")


# --------------------------------------------------------------------------- step2-reviewed
# The accepted clip set: the contract between review (issue #5) and packaging (issue #6).
class ReviewedClip(Strict):
    """One accepted clip with its final caption."""

    clip_id: str = Field(description="Clip id from step1-scenes ('<video_id>-s<NNNN>'); the join key for captions, never a position.")
    video_id: str = Field(description="Source video id.")
    clip_path: str = Field(description="Absolute path of the clip file (the step1-scenes shard's clips/<clip_id>.mp4; a store path inside Nix).")
    caption: str = Field(min_length=1, description="Final caption (model caption, or the reviewer's edit), without the trigger word.")
    caption_source: Literal["model", "edited"] = Field(description="'edited' when a review decision replaced the model caption.")
    frame_count: int = Field(ge=1, description="Frames of the clip.")
    fps: float = Field(gt=0, description="Frame rate of the clip, frames per second.")
    width: int = Field(ge=1, description="Clip width in pixels (square pixels).")
    height: int = Field(ge=1, description="Clip height in pixels.")
    start_s: float = Field(ge=0, description="Start in the source video, seconds.")
    end_s: float = Field(description="End in the source video, seconds.")
    has_audio: bool = Field(description="True when the clip has an audio stream.")
    characters: list[str] = Field(default_factory=list, description="Canonical names of the characters in the clip (from the scene context).")


class RejectedClip(Strict):
    """One clip left out of the training set, and why."""

    clip_id: str
    video_id: str
    reasons: list[str] = Field(min_length=1, description="Why: review decision ('rejected in review: <reason>') or automatic QA flags ('black frames', 'frozen frames', 'too short: 0.4 s < 1.0 s', ...).")


class ReviewedArtifact(Strict):
    """``$out/reviewed.json`` of step2-reviewed: every clip of the dataset is either accepted or rejected."""

    schema_version: int = SCHEMA_VERSION
    dataset: str
    trigger_word: str | None = Field(None, description="The LoRA trigger word from the bible (packaging prepends it when configured).")
    accepted: list[ReviewedClip]
    rejected: list[RejectedClip]
    stale_decisions: list[str] = Field(default_factory=list, description="Review decisions whose caption hash no longer matches the caption (reported, not applied).")
    qa: list[ClipQA] = Field(default_factory=list, description="Automatic QA flags and the applied decision of every clip (issue 5; optional).")
    sources: dict[str, str] = Field(default_factory=dict, description="Upstream outputs by step name (store paths), e.g. step2-caption (optional).")
    review_sha256: str | None = Field(None, description="sha256 (hex) of the review.json applied; null when the dataset has none (optional).")


ARTIFACTS["reviewed.json"] = ReviewedArtifact


# --------------------------------------------------------------------------- step3 packaging manifest (issue 6)
class PackagedClip(Strict):
    """The fate of one input clip (accepted or rejected in review) in a trainer package."""

    clip_id: str = Field(description="Clip id (the join key of captions; never a position).")
    video_id: str = Field(description="Source video id.")
    fate: Literal["kept", "dropped"] = Field(description="'kept': written to the package; 'dropped': left out, see `reason`.")
    reason: str | None = Field(None, description="Why a clip was dropped ('rejected in review: …', 'too short: …').")
    caption: str | None = Field(None, description="Caption as written (trigger word included when prepended); null when dropped.")
    caption_source: Literal["model", "edited"] | None = Field(None, description="From reviewed.json; null for clips rejected in review.")
    file: str | None = Field(None, description="Written clip, relative to the step output (e.g. 'dataset/videos/<clip_id>.mp4').")
    source_frames: int | None = Field(None, description="Frames of the input clip (null for clips rejected in review).")
    source_fps: float | None = Field(None, description="Frame rate of the input clip, frames per second.")
    source_width: int | None = Field(None, description="Input clip width, pixels.")
    source_height: int | None = Field(None, description="Input clip height, pixels.")
    available_frames: int | None = Field(None, description="Frames the input clip gives at the target fps (floor(source_frames x fps / source_fps)).")
    bucket: str | None = Field(None, description="Bucket/size chosen ('WxHxF' for LTX-2, 'WxH' for Wan 2.1).")
    frames: int | None = Field(None, description="Frames written (ffprobe-checked).")
    width: int | None = Field(None, description="Width written, pixels.")
    height: int | None = Field(None, description="Height written, pixels.")
    fps: float | None = Field(None, description="Frame rate written, frames per second.")
    source_frames_used: int | None = Field(None, description="Input frames covered by the written span (round(frames x source_fps / fps), at most source_frames).")
    source_frames_trimmed: int | None = Field(None, description="Input frames left out at the end: source_frames - source_frames_used.")


class PackageManifest(Strict):
    """``$out/manifest.json`` of step3-ltx2-data and step3-wan21-package: every clip of
    reviewed.json (accepted and rejected) with its fate. kept + dropped = accepted + rejected."""

    schema_version: int = SCHEMA_VERSION
    trainer: Literal["ltx2", "wan21"] = Field(description="Which package this is.")
    dataset: str = Field(description="Dataset name.")
    config: dict = Field(description="The validated [ltx2] or [wan21] section used.")
    trigger_word: str | None = Field(description="The bible's trigger word (from reviewed.json).")
    trigger_prepended: bool = Field(description="True when captions start with the trigger word.")
    package_dir: str = Field(description="Folder of the trainer package, relative to the step output ('dataset').")
    files: list[str] = Field(description="Metadata/config files of the package, relative to the step output.")
    reviewed_accepted: int = Field(ge=0, description="Accepted clips in reviewed.json.")
    reviewed_rejected: int = Field(ge=0, description="Rejected clips in reviewed.json.")
    kept: int = Field(ge=0, description="Clips written.")
    dropped: int = Field(ge=0, description="Clips left out (rejected in review + dropped here).")
    frames_written: int = Field(ge=0, description="Frames written over all kept clips.")
    source_frames_trimmed: int = Field(ge=0, description="Input frames trimmed over all kept clips.")
    clips: list[PackagedClip] = Field(description="One entry per clip of reviewed.json, accepted clips first (reviewed.json order), then rejected ones.")

    @model_validator(mode="after")
    def _adds_up(self) -> PackageManifest:
        if self.kept + self.dropped != len(self.clips) or len(self.clips) != self.reviewed_accepted + self.reviewed_rejected:
            raise ValueError("kept + dropped must equal the clips listed, and those the clips of reviewed.json")
        if sum(c.fate == "kept" for c in self.clips) != self.kept:
            raise ValueError("kept does not match the clips marked 'kept'")
        if len({c.clip_id for c in self.clips}) != len(self.clips):
            raise ValueError("a clip id is listed twice")
        return self


ARTIFACTS["manifest.json"] = PackageManifest


# --------------------------------------------------------------------------- latents and LoRAs (issue 7)
class PreprocessConfig(Strict):
    """Settings of a ``step4-*-preprocess`` step (``[ltx2_preprocess]`` / ``[wan21_preprocess]``)."""

    model: str | None = Field(None, description="Base model from nix/models.toml: a diffusers pipeline folder (VAE, text encoder, transformer). Nix resolves it (defaults in nix/steps.nix) and passes it as models.base; the matching step5-*-train trains the same model.")
    max_text_tokens: int = Field(256, ge=8, le=4096, description="Caption tokens kept by the text encoder (padded/truncated to this length, in tokens).")
    audio: bool = Field(True, description="Encode the clip's audio track into audio latents when it has one (LTX-2 is an audio+video model; ignored by video-only models such as Wan 2.1).")


class Ltx2PreprocessConfig(PreprocessConfig):
    """``[ltx2_preprocess]`` of dataset.toml: step4-ltx2-preprocess (VAE video + audio latents and
    Gemma text embeddings of every clip of step3-ltx2-data)."""

    max_text_tokens: int = Field(1024, ge=8, le=4096, description="Caption tokens kept by the Gemma text encoder (LTX-2's pipeline default max_sequence_length is 1024).")


class Wan21PreprocessConfig(PreprocessConfig):
    """``[wan21_preprocess]`` of dataset.toml: step4-wan21-preprocess (VAE latents and UMT5 text
    embeddings of every clip of step3-wan21-package)."""

    max_text_tokens: int = Field(512, ge=8, le=4096, description="Caption tokens kept by the UMT5 text encoder (WanPipeline's max_sequence_length is 512).")
    audio: bool = Field(False, description="Ignored: Wan 2.1 is a video-only model.")


class ValidationConfig(Strict):
    """``[<family>_train.validation]``: samples rendered with the final LoRA (not part of the
    segment derivations: editing it re-renders samples only, it never retrains)."""

    prompts: list[str] = Field(default_factory=list, description="Text-to-video prompts rendered with the trained LoRA (the trigger word is not added automatically).")
    width: int | None = Field(None, ge=16, description="Sample width, pixels (default: the first training bucket's).")
    height: int | None = Field(None, ge=16, description="Sample height, pixels (default: the first training bucket's).")
    frames: int | None = Field(None, ge=1, description="Sample frames (default: the first training bucket's; LTX-2 8n+1, Wan 2.1 4n+1).")
    steps: int = Field(30, ge=1, description="Denoising steps per sample.")
    seed: int = Field(0, ge=0, description="Sampling seed (noise of every sample).")


# Presets of the training config: values filled in for keys the dataset.toml does not set.
# docs/training.md has the memory budget behind each (weights + LoRA + optimizer + activations).
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
            _size(b, b.lower().count("x") + 1)
        return self


class Ltx2TrainConfig(TrainConfig):
    """``[ltx2_train]`` of dataset.toml: step5-ltx2-train (LTX-2 LoRA)."""


class Wan21TrainConfig(TrainConfig):
    """``[wan21_train]`` of dataset.toml: step5-wan21-train (Wan 2.1 LoRA)."""


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


class LatentClip(Strict):
    """One packaged clip in a preprocess output."""

    clip_id: str = Field(description="Clip id (as in the package manifest).")
    bucket: str = Field(description="The clip's bucket in the package ('WxHxF' for LTX-2, 'WxH' for Wan 2.1).")
    caption: str = Field(description="Caption encoded (as packaged).")
    width: int = Field(ge=1, description="Clip width, pixels.")
    height: int = Field(ge=1, description="Clip height, pixels.")
    frames: int = Field(ge=1, description="Clip frames.")
    fps: float = Field(gt=0, description="Clip frame rate, frames per second.")
    files: dict[str, str] = Field(description="safetensors files by kind ('latents', 'conditions', 'audio_latents'), relative to the step output.")
    shapes: dict[str, list[int]] = Field(description="Shape of every tensor stored, by tensor name (no batch dimension).")
    dtypes: dict[str, str] = Field(description="dtype of every tensor stored, by tensor name.")


class LatentIndex(Strict):
    """``$out/latents.json`` of step4-ltx2-preprocess / step4-wan21-preprocess: one entry per kept
    clip of the package, each with its latent and text-embedding files."""

    schema_version: int = SCHEMA_VERSION
    family: Literal["ltx2", "wan21"] = Field(description="Model family.")
    dataset: str
    model: ModelRef = Field(description="Base model whose VAE and text encoder made the tensors.")
    config: dict = Field(description="The validated preprocess section used.")
    package: str = Field(description="The step3 output read (store path).")
    audio: bool = Field(description="True when audio latents were requested.")
    clips: list[LatentClip]

    @model_validator(mode="after")
    def _unique(self) -> LatentIndex:
        if len({c.clip_id for c in self.clips}) != len(self.clips):
            raise ValueError("a clip id is listed twice")
        return self


ARTIFACTS["latents.json"] = LatentIndex


class LossPoint(Strict):
    """Loss of one optimizer step."""

    step: int = Field(ge=0, description="Optimizer step (0-based).")
    loss: float = Field(description="Training loss (flow-matching MSE) of the step's batch.")
    sigma: float = Field(description="Mean noise level sigma of the batch (0 = clean, 1 = noise).")
    lr: float = Field(description="Learning rate used.")
    clips: list[str] = Field(description="Clip ids of the batch.")


class TrainSegment(Strict):
    """``$out/segment.json`` of one segment derivation of step5-*-train."""

    schema_version: int = SCHEMA_VERSION
    family: Literal["ltx2", "wan21"]
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
    wall_s: float = Field(ge=0, description="Wall time of this segment's training loop, seconds.")
    it_per_s: float = Field(ge=0, description="Optimizer steps per second in this segment.")


ARTIFACTS["segment.json"] = TrainSegment


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

    schema_version: int = SCHEMA_VERSION
    family: Literal["ltx2", "wan21"]
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
    train_wall_s: float = Field(ge=0, description="Sum of the segments' training wall time, seconds.")
    samples: list[TrainSample]


ARTIFACTS["train.json"] = TrainArtifact


DatasetConfig.model_rebuild()
