"""step2-reviewed: ``reviewed.json``, the accepted clip set between review and packaging
(writer: tools/step2_reviewed.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, Strict
from reelset.schemas.context import ContextLine
from reelset.schemas.repeats import ClipFingerprint, RepeatGroup, RepeatSpan, VideoTimeline
from reelset.schemas.review import ClipQA


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
    speaking_s: dict[str, float] = Field(default_factory=dict, description="Seconds each character speaks in the clip (its dialogue lines with a named speaker, by voice when the bible has voice references; step2-speakers → scene context).")
    lines: list[ContextLine] = Field(default_factory=list, description="The clip's dialogue lines with their speakers, after the review's speaker fixes (step2-scene-context → step2-caption → review.json `speakers`); LTX-2 packages write them into the caption's [SPEECH] section.")
    unheard_speech_s: float = Field(0.0, ge=0, description="Seconds of the clip's VAD speech the ASR step left without words (from the scene context): speech no caption can transcribe.")


class RejectedClip(Strict):
    """One clip left out of the training set, and why."""

    clip_id: str
    video_id: str
    reasons: list[str] = Field(min_length=1, description="Why: review decision ('rejected in review: <reason>') or automatic QA flags ('black frames', 'frozen frames', 'too short: 0.4 s < 1.0 s', ...).")
    repeat_of: str | None = Field(None, description="The clip this one repeats (another video's), when it was dropped as a copy ([repeats] keep = 'one'); for a repeated stretch, the kept occurrence's clip that overlaps most of the time range it repeats.")
    repeat_span: RepeatSpan | None = Field(None, description="For a copy in a repeated stretch: the time range of the kept occurrence it repeats (video, seconds).")


class ReviewedArtifact(Strict):
    """``$out/reviewed.json`` of step2-reviewed: every clip of the dataset is either accepted or rejected."""

    FILE: ClassVar[str] = "reviewed.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    dataset: str
    trigger_word: str | None = Field(None, description="The LoRA trigger word from the bible (packaging starts every caption with it, exactly once, for every family).")
    accepted: list[ReviewedClip]
    rejected: list[RejectedClip]
    stale_decisions: list[str] = Field(default_factory=list, description="Review decisions whose caption hash no longer matches the caption (reported, not applied).")
    qa: list[ClipQA] = Field(default_factory=list, description="Automatic QA flags and the applied decision of every clip (issue 5; optional).")
    sources: dict[str, str] = Field(default_factory=dict, description="Upstream outputs by step name (store paths), e.g. step2-caption (optional).")
    review_sha256: str | None = Field(None, description="sha256 (hex) of the review.json applied; null when the dataset has none (optional).")
    fingerprints: list[ClipFingerprint] = Field(default_factory=list, description="Fingerprint of every clip (sampled frames' hashes and colours, audio band energies), for finding repeats across videos.")
    timelines: list[VideoTimeline] = Field(default_factory=list, description="Per-video shards only: the video's time-indexed fingerprint (one signature per 0.5 s step, with the clip boundaries) that the gathering matches by stretches of time; the gathered artifact leaves them out.")
    repeats: list[RepeatGroup] = Field(default_factory=list, description="Groups of near-identical clips, and repeated stretches of time, of different videos (gathering and one-process runs only; [repeats]).")

