"""step2-scene-context: ``context.json`` (writer: tools/step2_scene_context.py).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, Strict


class ContextLine(Strict):
    """A corrected dialogue line (or part of one) spoken inside a clip."""

    start: float = Field(description="Start of the first word inside the clip, seconds (video time).")
    end: float = Field(description="End of the last word inside the clip, seconds.")
    speaker: str = Field(description="Canonical character name, or 'unknown'.")
    speaker_source: str = Field("multimodal", description="Who named the speaker: 'voice' (step2-speakers: the voice matched a bible voice reference), 'multimodal' (step2-transcript-disambiguate's model pass; used only when the bible has no voice references), or 'voice-unknown' (step2-speakers heard a voice no reference matches, or two voices at once: left unknown, never forced onto a name); 'review' after a reviewer's fix (review.json `speakers`, applied by step2-reviewed and the review page).")
    speaker_confidence: float | None = Field(None, description="Cosine of the line's voice to the named character's reference (voice), or the multimodal pass's confidence (0-1).")
    text: str = Field(description="Corrected words whose midpoint lies inside the clip.")


class DroppedLine(Strict):
    """Transcript words inside a clip that are not taken as dialogue: their segment was flagged
    by a hallucination guard of step2-transcript-base."""

    start: float = Field(description="Start of the first word inside the clip, seconds (video time).")
    end: float = Field(description="End of the last word inside the clip, seconds.")
    text: str = Field(description="The words (as corrected) whose midpoint lies inside the clip.")
    # plain strings, not transcript.GuardCheck: the context schema (in the closure of the
    # caption and review steps) stays independent of the ASR schema
    checks: list[str] = Field(description="The guards that flagged the segment (SegmentFlag.check of transcript.json: 'repetition', 'phantom_phrase', …).")


class ClipContext(Strict):
    """Context of one clip for the captioner."""

    clip_id: str = Field(description="Clip id from step1-scenes.")
    start_s: float = Field(description="Clip start, seconds.")
    end_s: float = Field(description="Clip end, seconds.")
    characters: list[str] = Field(description="Characters present: attributed speakers + characters named in the clip's dialogue (canonical names, bible order).")
    speakers: list[str] = Field(default_factory=list, description="Characters who speak in the clip (attributed lines), in order of first line; 'unknown' when a line's voice matched no reference.")
    character_evidence: dict[str, list[str]] = Field(description="Per character, why it is listed ('speaker (voice)', 'speaker', 'named in dialogue', 'reference shot').")
    place: str | None = Field(description="Place named in the clip's dialogue or shown by a reference shot inside the clip, if any.")
    lines: list[ContextLine] = Field(description="Corrected dialogue inside the clip (by word timestamps); segments flagged as hallucinations are left out.")
    dropped_lines: list[DroppedLine] = Field(default_factory=list, description="Transcript words inside the clip left out of `lines` and `context` because a hallucination guard flagged their segment.")
    unheard_speech_s: float = Field(0.0, ge=0, description="Seconds of the clip's VAD speech that the ASR step left without words (transcript `speech_without_words`): dialogue the caption cannot know; review QA flags it ('speech_without_words').")
    context: str = Field(description="Short context string for the captioner.")


class SceneContextArtifact(Strict):
    """``$out/context.json`` of step2-scene-context (one source video)."""

    FILE: ClassVar[str] = "context.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id.")
    trigger_word: str = Field(description="The bible's LoRA trigger word.")
    clips: list[ClipContext] = Field(description="One entry per step1-scenes clip, in order.")

