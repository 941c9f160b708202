"""step2-transcript-base: ``[asr]`` of dataset.toml and ``transcript.json`` (writer: tools/step2_transcript_base.py).
"""

from __future__ import annotations

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, ModelRef, Strict


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
    vad: dict[str, float | int | bool] = Field(description="VAD settings.")
    speech_regions: list[tuple[float, float]] = Field(description="VAD speech regions [start, end] in seconds.")
    hotwords: list[str] = Field(default_factory=list)
    segments: list[Segment]

