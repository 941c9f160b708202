"""Review: ``[review]`` of dataset.toml, the reviewer's ``review.json`` and automatic QA findings
(writers: tools/review.py serve, tools/step2_reviewed.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, Strict


class ReviewConfig(Strict):
    """``[review]`` of dataset.toml: automatic QA of step2-reviewed (a flagged clip is rejected
    unless a review decision accepts it)."""

    file: str = Field("review.json", description="The review decisions, relative to the dataset folder (read by Nix; optional).")
    min_clip_s: float = Field(1.1, ge=0, description="Shortest clip kept, seconds (LTX-2's smallest bucket is 25 frames at 24 fps = 1.04 s; Wan 2.1's 17 frames at 16 fps = 1.06 s).")
    max_clip_s: float = Field(30.0, gt=0, description="Longest clip kept, seconds (packaging trims clips to a few seconds; a longer shot mostly goes unused).")
    black_max_fraction: float = Field(0.25, ge=0, le=1, description="Flag a clip when more than this fraction (0-1) of its duration is black (ffmpeg blackframe + signalstats).")
    black_pixel_threshold: float = Field(0.10, ge=0, le=1, description="Luminance (0-1 of the video range 16-235, as blackdetect's pix_th) at or below which a pixel counts as dark.")
    black_picture_ratio: float = Field(0.98, ge=0, le=1, description="Fraction of dark pixels (0-1, as blackdetect's pic_th) that makes a frame dark.")
    black_max_saturation: float = Field(12.0, ge=0, description="A dark frame is black only when its mean saturation (ffmpeg signalstats SATAVG, 8-bit chroma units; black 0, navy #000080 about 56) is at most this; darker colour cards are not black.")
    freeze_max_fraction: float = Field(0.5, ge=0, le=1, description="Flag a clip when more than this fraction (0-1) of its duration is frozen (ffmpeg freezedetect).")
    freeze_noise_db: float = Field(-60.0, le=0, description="freezedetect noise tolerance, dB (ffmpeg's default -60 dB = 0.001).")
    freeze_min_s: float = Field(0.5, gt=0, description="freezedetect d: shortest still stretch detected, seconds.")
    min_words: int = Field(5, ge=0, description="Fewest words in a caption (trigger word not counted).")
    max_words: int = Field(120, ge=1, description="Most words in a caption (trigger word not counted).")
    require_trigger_word: bool = Field(True, description="Flag a caption that lacks the bible's trigger word (as a whole word).")
    check_names: bool = Field(True, description="Flag a caption naming a bible character (name or alias) that the clip's scene context does not list.")
    check_dropped_dialogue: bool = Field(True, description="Flag a clip whose transcript text was left out of its scene context as a likely ASR hallucination (a loop, a phantom phrase on music, …), or whose speech the ASR step left without words ('speech_without_words'): its real dialogue may be missing from the caption and the training text.")

    @model_validator(mode="after")
    def _ranges(self) -> ReviewConfig:
        if self.min_clip_s >= self.max_clip_s:
            raise ValueError(f"min_clip_s {self.min_clip_s} must be below max_clip_s {self.max_clip_s}")
        if self.min_words > self.max_words:
            raise ValueError(f"min_words {self.min_words} > max_words {self.max_words}")
        return self


class ReviewDecision(Strict):
    """One entry of ``pipelines/<name>/review.json``: a reviewer's decision on one clip, made
    against one caption (its sha256), so a decision on a caption that changed since is stale."""

    caption_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 (hex) of the model caption the decision was made on (captions.json).")
    action: Literal["accept", "reject", "edit"] = Field(description="'accept': keep the clip, every QA flag overridden but an empty caption, with the model caption or with `caption` when given (the review page sends its text box when you changed it); 'reject': leave it out (needs `reason`); 'edit': keep it with `caption` (the clip's own flags and the names check overridden; empty / too short / too long still leave it out). The full table: docs/usage.md, 'Reviewing captions'.")
    reason: str | None = Field(None, description="Why a clip is rejected (required for 'reject').")
    caption: str | None = Field(None, description="The reviewer's caption (required for 'edit'; optional for 'accept': the caption accepted instead of the model's).")
    speakers: dict[str, str] = Field(default_factory=dict, description="Speaker fixes: start of a dialogue line of the clip in seconds as the review page shows it (two decimals, e.g. '6.52') → who speaks it: a character of the bible, or 'unknown'. step2-reviewed applies them (reviewed.json speaking_s); a start that names no line of the clip is listed as stale.")
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
                   "unknown_name", "trigger_missing", "dialogue_dropped", "speech_without_words"] = Field(description="Which check ('dialogue_dropped': transcript text in the clip was left out of its context as a likely ASR hallucination; 'speech_without_words': VAD heard speech in the clip that the ASR step left without words).")
    detail: str = Field(description="Human-readable finding, e.g. 'black frames: 1.20 s of 2.00 s (60 %)'.")


class ClipQA(Strict):
    """Automatic QA and the review decision of one clip (step2-reviewed)."""

    clip_id: str
    video_id: str
    flags: list[QAFlag] = Field(description="Automatic QA findings on the clip and the final caption.")
    decision: Literal["accept", "reject", "edit"] | None = Field(None, description="The review decision applied (null: none, or stale).")
    overridden: list[str] = Field(default_factory=list, description="Flags a review decision overrode (accepted anyway).")
    accepted: bool = Field(description="In the accepted set.")

