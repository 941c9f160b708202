"""step2-speakers: ``[speakers]`` of dataset.toml, ``voice.json`` of one bible voice reference
(writer: tools/step2_voice_reference.py) and ``speakers.json`` of one video (writer:
tools/step2_speakers.py). Embeddings are unit vectors (cosine = dot product)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, ModelRef, Strict


class SpeakersConfig(Strict):
    """``[speakers]`` of dataset.toml (step2-speakers). The similarity thresholds are cosines of
    the encoder's embeddings; the defaults are for the GE2E try-out encoder, measured on espeak-ng
    voices (bench/RESULTS.md, issue 30): the same voice 0.84-0.92 between sentences, different
    voices 0.57-0.76 (max). A WavLM x-vector separates voices further apart; calibrate on your
    series with the report's similarity table."""

    model: str | None = Field(None, description="Speaker encoder from nix/models.toml: default wavlm-base-plus-sv (WavLM x-vector, for real runs; pin it first), or resemblyzer-ge2e (GE2E, offline in the resemblyzer wheel: the try-out profile, the demo and the tests).")
    min_similarity: float = Field(0.75, ge=-1, le=1, description="A voice (cluster of segments) is named after the closest character's voice reference only when its cosine to it is at least this; a segment keeps the name only when its own cosine to that reference is at least `min_segment_similarity`. Else 'unknown'.")
    min_segment_similarity: float = Field(0.7, ge=-1, le=1, description="Cosine of one segment's own embedding to the reference of its voice's name under which the segment is 'unknown' (a segment of another voice ASR merged in, or noise).")
    min_margin: float = Field(0.03, ge=0, le=2, description="The closest character's cosine must beat the second closest by this much, else the voice is 'unknown' (two references that sound alike).")
    cluster_similarity: float = Field(0.8, ge=-1, le=1, description="Segments of one video are grouped into voices by average-linkage agglomerative clustering; two groups merge while the cosine of their mean embeddings is at least this.")
    min_segment_s: float = Field(0.4, gt=0, description="Segments shorter than this (seconds) get no embedding of their own (too little speech); they take their neighbours' voice only through the review, and are 'unknown' here.")
    min_run_s: float = Field(1.0, gt=0, description="When a segment of two voices is cut into runs of one voice by its words, a run shorter than this (seconds) joins its neighbour (a 1.6 s window straddling two voices names neither).")
    mixed_fraction: float = Field(0.3, gt=0, le=0.5, description="A segment whose 1.6 s windows name a second voice for at least this fraction of them is marked `mixed` (overlapping speech or a speaker change ASR did not split) and is not forced onto a name.")


class VoiceReferenceArtifact(Strict):
    """``$out/voice.json`` of one voice reference of the bible (a character + a span of a video)."""

    FILE: ClassVar[str] = "voice.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    character: str = Field(description="Canonical character name (bible.yaml).")
    video_id: str = Field(description="Video the span is cut from.")
    start: float = Field(ge=0, description="Span start, seconds.")
    end: float = Field(ge=0, description="Span end, seconds.")
    where: str = Field(description="Where the reference is written, e.g. 'bible.yaml: characters[1].voice_references[0]'.")
    model: ModelRef
    embedding: list[float] = Field(description="Unit-norm speaker embedding of the span (256 floats for GE2E, 512 for the WavLM x-vector).")


class Voice(Strict):
    """One voice of a video: a cluster of its segments, named after a voice reference or not."""

    id: str = Field(description="Voice id within the video, e.g. 'v1' (by first appearance).")
    name: str | None = Field(description="Character named by the voice references, or null ('unknown': no reference is close enough, or two are equally close).")
    similarity: float | None = Field(description="Cosine of the voice's mean embedding to the named (or, when unknown, closest) character's reference.")
    closest: str | None = Field(description="Closest character by voice reference (also when the voice stays unknown).")
    margin: float | None = Field(description="similarity minus the second-closest character's cosine (null with fewer than two characters).")
    segments: list[int] = Field(description="Transcript segment ids of the voice.")
    seconds: float = Field(ge=0, description="Speech seconds of the voice (sum of its segments' lengths).")
    embedding: list[float] = Field(default_factory=list, description="Unit-norm mean embedding of the voice's segments (5 decimals): what links a voice no reference names across the videos of a dataset (reelset.speakers.link_voices; the step2-speakers page of all videos).")


class SpeakerSegment(Strict):
    """Who speaks one transcript segment."""

    id: int = Field(description="Transcript segment id (step2-transcript-base).")
    part: int = Field(0, ge=0, description="0, or the run number when a segment of two voices was cut into runs of one voice by its words (reelset.speakers.word_runs); start/end/text are then the run's.")
    start: float = Field(description="Seconds.")
    end: float = Field(description="Seconds.")
    text: str = Field(description="The segment's (or run's) text as heard (step2-transcript-base).")
    voice: str | None = Field(description="Voice id (Voice.id), null when the segment was too short or flagged by ASR's guards.")
    speaker: str | None = Field(description="Character name, or null = unknown (see `status`).")
    confidence: float = Field(ge=-1, le=1, description="Cosine of the segment's own embedding to the named character's reference (0 when unknown without a closest character).")
    status: Literal["named", "unknown", "mixed", "too_short", "not_speech"] = Field(description="'named': attributed; 'unknown': no reference close enough (a voice not in the bible, or one that sounds like two); 'mixed': two voices in one segment that could not be cut into runs of one voice (overlapping speech), not forced onto a name; 'too_short': under [speakers] min_segment_s; 'not_speech': flagged by ASR's hallucination guards.")
    heard: list[str] = Field(default_factory=list, description="Characters whose voices the segment's 1.6 s windows name (two or more when `mixed`).")


class SpeakersArtifact(Strict):
    """``$out/speakers.json`` of step2-speakers (one per video)."""

    FILE: ClassVar[str] = "speakers.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video_id: str
    model: ModelRef | None = Field(description="Speaker encoder (null when the video has no audio).")
    encoder: str = Field(description="'ge2e' or 'wavlm-xvector' (reelset.voice).")
    dim: int = Field(ge=0, description="Embedding size.")
    device: str = Field(description="'cpu' or 'cuda'.")
    config: SpeakersConfig = Field(description="The [speakers] settings used.")
    references: dict[str, list[str]] = Field(description="Character → the voice references used (where in bible.yaml); characters without any are never named.")
    reference_similarity: dict[str, dict[str, float]] = Field(description="Cosine between the characters' mean reference embeddings (how alike the references sound; above min_similarity the two can be confused).")
    voices: list[Voice]
    segments: list[SpeakerSegment]
