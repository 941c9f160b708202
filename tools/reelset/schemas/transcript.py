"""step2-transcript-base: ``[asr]`` of dataset.toml and ``transcript.json`` (writer: tools/step2_transcript_base.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, ModelRef, Strict


class GuardConfig(Strict):
    """``[asr.guards]`` of dataset.toml: when a transcript segment is flagged as a likely ASR
    hallucination (:mod:`reelset.hallucination`). Flagged segments stay in transcript.json
    with their reasons but never reach scene context or captions as dialogue."""

    compression_ratio: float = Field(2.4, gt=1, description="Give a decoding window a second look when its text compresses better than this (len(utf-8) / len(zlib), as Whisper and faster-whisper compute it; their compression_ratio_threshold default is 2.4). Looping text compresses well, but so does real repeated phrasing (a list read aloud, a refrain): the ratio alone never flags or discards text.")
    repeat_min: int = Field(3, ge=2, description="Flag the words of an n-gram (1-8 words) repeated back to back at least this many times ...")
    repeat_min_words: int = Field(6, ge=2, description="... when the repeated run holds at least this many words (so 'no, no, no' is speech, 'thank you. thank you. thank you.' a loop).")
    no_speech: float = Field(0.6, ge=0, le=1, description="Flag a segment whose decoding window has a no-speech probability above this AND an average log-probability below `log_prob` (Whisper's no_speech_threshold rule for silent windows).")
    log_prob: float = Field(-1.0, le=0, description="Average log-probability of a window under which a high no-speech probability marks it as silence (Whisper's logprob_threshold).")
    outside_speech: float = Field(0.5, ge=0, le=1, description="Flag a segment when more than this fraction (0-1) of its words have their midpoint outside every VAD speech region.")
    min_coverage: float = Field(0.8, ge=0, le=1, description="A decoding window whose words (loop words left out, each word counting ±0.3 s around it) cover less than this fraction (0-1) of its VAD speech gets a second look (shorter pieces, batched); so do windows over `compression_ratio`, with a loop or a low log-probability. A second decoding replaces the first only when it covers at least as much speech with words and scores better.")
    uncovered_min_s: float = Field(1.0, gt=0, description="VAD speech of at least this many seconds in a row that no word and no flagged segment covers is recorded in transcript.json `speech_without_words` (never lost silently; counted in meta.json, shown in the report, flagged in review QA). A decoding window with a VAD region at least this long that its words mostly leave bare gets a second look, and a third (sequential, temperature fallback) if it stays bare.")
    phantom_phrases: bool = Field(True, description="Flag segments that are one of Whisper's phantom phrases on music and silence ('Thank you for watching', 'Subtitles by …', reelset.hallucination.PHANTOM_PHRASES).")


class AsrConfig(Strict):
    """``[asr]`` of dataset.toml: faster-whisper settings for step2-transcript-base (and the
    conditioned re-decoding of step2-transcript-disambiguate)."""

    model: str | None = Field(None, description="Model name from nix/models.toml (pinned fixed input); Nix resolves it (default faster-whisper-large-v3, nix/steps.nix) and passes the files as models.asr.")
    language: str | None = Field("en", description="ISO 639-1 language code, or null to detect it.")
    beam_size: int = Field(5, ge=1, description="Beam size of the decoder.")
    batch_size: int | None = Field(None, ge=1, description="Decoding windows (up to 30 s of VAD speech each) decoded together by faster-whisper's BatchedInferencePipeline; null: 16 on CUDA, 8 on the CPU (reelset.asr.whisper.default_batch_size). The text does not depend on it beyond float rounding.")
    vad: bool = Field(True, description="Cut the audio into windows of Silero VAD speech (up to 30 s each) before decoding. False: fixed 30 s windows over the whole audio (music and silence included); the VAD still runs for the outside-speech guard.")
    vad_min_silence_ms: int = Field(500, ge=0, description="VAD: minimum silence in milliseconds that splits speech.")
    cpu_threads: int = Field(4, ge=1, description="CTranslate2 threads on the CPU (CTranslate2's default is 4).")
    seed: int = Field(0, ge=0, description="Random seed of CTranslate2's sampling. Batched decoding uses temperature 0 only (no sampling fallback), so the seed changes nothing today; it is set so that a sampling decoder can never make the output vary from run to run (measured with the sequential decoder's temperature fallback on espeak-ng speech with tiny.en).")
    hotwords: list[str] = Field(default_factory=list, description="Optional words to bias decoding (faster-whisper hotwords). Kept here, not in the bible, so editing the bible never re-runs ASR.")
    max_segment_s: float = Field(15.0, gt=1, description="Longest transcript segment, seconds: a longer one (a run-on sentence, or speech transcribed without punctuation) is cut at its longest inner pause, recursively (segments are sentences: split after . ? ! and at pauses of `split_pause_s`).")
    split_pause_s: float = Field(0.6, gt=0, description="A pause at least this long (seconds) ends a segment whatever the punctuation: a gap between two words' timestamps, or a silence the VAD measured between the two words (two regions `gap` s apart: `gap` + 0.8 s, the VAD's padding; touching regions: at least `vad_min_silence_ms`). Default measured on espeak-ng dialogue read with 0.8 s pauses and without (bench/bench_split_pause.py, bench/RESULTS.md 'issue 37').")
    guards: GuardConfig = Field(default_factory=lambda: GuardConfig(), description="Hallucination guards ([asr.guards]).")


class Word(Strict):
    """One recognised word with its timing (seconds) and probability (0-1)."""

    word: str
    start: float
    end: float
    probability: float = Field(ge=0, le=1)


GuardCheck = Literal["repetition", "compression_ratio", "no_speech", "outside_speech", "phantom_phrase"]


class SegmentFlag(Strict):
    """Why a segment is taken for an ASR hallucination (one guard of :class:`GuardConfig`)."""

    check: GuardCheck = Field(description="'repetition': an n-gram loop; 'compression_ratio': the text (or its window's) compresses too well; 'no_speech': the window looks silent to the model; 'outside_speech': its words lie outside VAD speech; 'phantom_phrase': a phrase Whisper makes up on music and silence.")
    detail: str = Field(description="Human-readable finding, e.g. \"'thank you' repeated 5 times\".")


class Segment(Strict):
    """One transcript segment: a sentence (or a part of one, at most [asr] max_segment_s), times in seconds."""

    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = Field(description="Average log-probability of the decoding window (up to 30 s) the segment comes from.")
    no_speech_prob: float = Field(description="No-speech probability (0-1) of the decoding window.")
    compression_ratio: float = Field(0.0, ge=0, description="len(utf-8 text) / len(zlib-compressed text) of the segment (faster-whisper's get_compression_ratio).")
    words: list[Word]
    flags: list[SegmentFlag] = Field(default_factory=list, description="Hallucination guard findings; a flagged segment is not dialogue (step2-scene-context drops it).")


class TranscriptArtifact(Strict):
    """``$out/transcript.json`` of step2-transcript-base (one source video). A function of the
    video, the model and ``[asr]``: byte-identical when re-run (wall times go to the build log
    and meta.json)."""

    FILE: ClassVar[str] = "transcript.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video_id: str
    has_audio: bool = Field(description="False when the source has no audio stream (then segments is empty).")
    language: str | None = Field(description="Language code used or detected.")
    language_probability: float | None = None
    model: ModelRef | None = Field(description="ASR model (null when there was no audio).")
    compute_type: str | None = Field(description="CTranslate2 compute type, e.g. 'int8' or 'float16'.")
    device: str = Field(description="'cpu' or 'cuda'.")
    batch_size: int | None = Field(None, description="Windows decoded per batch (null when there was no audio).")
    audio_duration_s: float = Field(ge=0, description="Decoded audio length in seconds.")
    vad: dict[str, float | int | bool] = Field(description="VAD settings.")
    speech_regions: list[tuple[float, float]] = Field(description="VAD speech regions [start, end] in seconds.")
    hotwords: list[str] = Field(default_factory=list)
    segments: list[Segment]
    speech_without_words: list[tuple[float, float]] = Field(default_factory=list, description="VAD speech [start, end] seconds (runs of at least [asr.guards] uncovered_min_s) that no word and no flagged segment covers: speech the model did not transcribe, recorded instead of lost (issue 26).")
