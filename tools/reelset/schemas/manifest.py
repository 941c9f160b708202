"""step3 packaging: ``manifest.json`` of step3-ltx2-data and step3-wan21-package (the window
settings that place its items: :mod:`reelset.schemas.windows`).

A reviewed clip (one shot) gives one or more *windows*; each window is a training item with
its own file and caption (``item_id`` = clip id + ``-w`` + two-digit window index).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, Strict
from reelset.schemas.repeats import RepeatSpan


class PackagedClip(Strict):
    """One training item of a package (a window of an accepted clip), or one clip left out whole."""

    item_id: str = Field(description="Item id: '<clip_id>-wNN' for a window (NN: its index in the clip, from 00), the clip id for a clip left out whole. The name of its file and the join key of its caption.")
    clip_id: str = Field(description="Reviewed clip the item comes from (the join key of reviewed.json; never a position).")
    video_id: str = Field(description="Source video id.")
    fate: Literal["kept", "dropped"] = Field(description="'kept': written to the package; 'dropped': left out, see `reason`.")
    window: int | None = Field(None, ge=0, description="Window index in its clip (kept items).")
    start_frame: int | None = Field(None, ge=0, description="First frame of the window in the clip resampled to `fps` (0 = the clip's first frame).")
    source_start_frame: int | None = Field(None, ge=0, description="Source range of the window: first frame of the input clip it covers.")
    source_end_frame: int | None = Field(None, ge=0, description="Source range of the window: end (exclusive) in input clip frames.")
    start_s: float | None = Field(None, description="Window start in the source video, seconds.")
    end_s: float | None = Field(None, description="Window end in the source video, seconds.")
    characters: list[str] = Field(default_factory=list, description="Characters in the shot (reviewed.json; the window shows the clip's shot).")
    speaking_s: dict[str, float] = Field(default_factory=dict, description="Seconds each named character speaks inside the window (overlap of their lines with the window).")
    lines_quoted: int = Field(0, ge=0, description="Dialogue lines quoted in the caption's [SPEECH] section (wholly inside the window).")
    lines_cut: int = Field(0, ge=0, description="Lines that a window edge cuts: left out of [SPEECH] (their words are only partly in the window's sound).")
    reason: str | None = Field(None, description="Why a clip was dropped ('rejected in review: …', 'too short: …').")
    repeat_of: str | None = Field(None, description="For a copy dropped as a repeat ([repeats] keep = 'one'): the clip of another video kept in its place.")
    repeat_span: RepeatSpan | None = Field(None, description="For a copy inside a repeated stretch: the time range of the kept occurrence it repeats (from reviewed.json).")
    caption: str | None = Field(None, description="Caption as written: the bible's trigger word first, exactly once, then the reviewed caption; null when dropped.")
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
    source_frames_used: int | None = Field(None, description="Input frames the window covers: source_end_frame - source_start_frame.")
    scale: float | None = Field(None, description="How much the source picture was enlarged to cover the written size: max(width / source_width, height / source_height); above 1 = upscaled (only with `upscale = true`).")
    scaled_from: str | None = Field(None, description="The configured bucket / size this item's size was scaled down from to avoid upscaling a smaller source (null: written at the configured size).")


class VideoUse(Strict):
    """Accepted vs packaged seconds of one source video."""

    video_id: str
    accepted_s: float = Field(ge=0, description="Seconds of the video's accepted clips.")
    packaged_s: float = Field(ge=0, description="Seconds of those clips inside at least one kept window (overlaps counted once).")
    used: float = Field(ge=0, le=1, description="packaged_s / accepted_s (0 when nothing was accepted).")


class CharacterBalance(Strict):
    """What a package holds of one character, in packaged items and seconds."""

    name: str
    clips: int = Field(ge=0, description="Reviewed clips with the character that have at least one kept item.")
    items: int = Field(ge=0, description="Kept items (windows) showing the character.")
    packaged_s: float = Field(ge=0, description="Seconds of those items (overlapping windows counted each).")
    speaking_s: float = Field(ge=0, description="Seconds the character speaks inside kept items.")


class PackageManifest(Strict):
    """``$out/manifest.json`` of step3-ltx2-data and step3-wan21-package: every clip of
    reviewed.json (accepted and rejected) with its fate. kept + dropped = accepted + rejected."""

    FILE: ClassVar[str] = "manifest.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    trainer: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Model family: the name of a family of tools/reelset/families/ (ltx2, wan21, wan22_a14b, …).")
    dataset: str = Field(description="Dataset name.")
    config: dict = Field(description="The validated [ltx2] or [wan21] section used.")
    trigger_word: str | None = Field(description="The bible's trigger word (from reviewed.json).")
    trigger_prepended: bool = Field(description="True when captions start with the trigger word (always, when the bible has one).")
    package_dir: str = Field(description="Folder of the trainer package, relative to the step output ('dataset').")
    files: list[str] = Field(description="Metadata/config files of the package, relative to the step output.")
    reviewed_accepted: int = Field(ge=0, description="Accepted clips in reviewed.json.")
    reviewed_rejected: int = Field(ge=0, description="Rejected clips in reviewed.json.")
    kept: int = Field(ge=0, description="Items (windows) written.")
    dropped: int = Field(ge=0, description="Clips left out whole (rejected in review + dropped here).")
    frames_written: int = Field(ge=0, description="Frames written over all kept items.")
    source_frames_trimmed: int = Field(ge=0, description="Frames of accepted clips with a kept item that no kept window covers.")
    accepted_s: float = Field(0.0, ge=0, description="Seconds of accepted clips.")
    packaged_s: float = Field(0.0, ge=0, description="Seconds of accepted clips inside at least one kept window.")
    videos: list[VideoUse] = Field(default_factory=list, description="Accepted vs packaged seconds per source video.")
    balance: list[CharacterBalance] = Field(default_factory=list, description="Per character (reviewed.json's names, most packaged seconds first): clips, items, packaged and speaking seconds.")
    clips: list[PackagedClip] = Field(description="The kept items and the clips left out whole: accepted clips in reviewed.json order (each kept clip's windows in time order), then the rejected ones.")

    @model_validator(mode="after")
    def _adds_up(self) -> PackageManifest:
        if len({c.clip_id for c in self.clips}) != self.reviewed_accepted + self.reviewed_rejected:
            raise ValueError("every clip of reviewed.json must be listed (as kept items or left out)")
        if self.kept + self.dropped != len(self.clips):
            raise ValueError("kept + dropped must equal the entries listed")
        if sum(c.fate == "kept" for c in self.clips) != self.kept:
            raise ValueError("kept does not match the items marked 'kept'")
        if len({c.item_id for c in self.clips}) != len(self.clips):
            raise ValueError("an item id is listed twice")
        if any(c.fate == "dropped" and any(o.fate == "kept" and o.clip_id == c.clip_id for o in self.clips) for c in self.clips):
            raise ValueError("a clip is both kept (as items) and dropped")
        return self

