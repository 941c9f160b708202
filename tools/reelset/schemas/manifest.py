"""step3 packaging: ``manifest.json`` of step3-ltx2-data and step3-wan21-package.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, Strict


class PackagedClip(Strict):
    """The fate of one input clip (accepted or rejected in review) in a trainer package."""

    clip_id: str = Field(description="Clip id (the join key of captions; never a position).")
    video_id: str = Field(description="Source video id.")
    fate: Literal["kept", "dropped"] = Field(description="'kept': written to the package; 'dropped': left out, see `reason`.")
    reason: str | None = Field(None, description="Why a clip was dropped ('rejected in review: …', 'too short: …').")
    repeat_of: str | None = Field(None, description="For a copy dropped as a repeat ([repeats] keep = 'one'): the clip of another video kept in its place.")
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
    source_frames_used: int | None = Field(None, description="Input frames covered by the written span (round(frames x source_fps / fps), at most source_frames).")
    source_frames_trimmed: int | None = Field(None, description="Input frames left out at the end: source_frames - source_frames_used.")


class PackageManifest(Strict):
    """``$out/manifest.json`` of step3-ltx2-data and step3-wan21-package: every clip of
    reviewed.json (accepted and rejected) with its fate. kept + dropped = accepted + rejected."""

    FILE: ClassVar[str] = "manifest.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    trainer: str = Field(pattern=r"^[a-z][a-z0-9]*$", description="Model family: the name of a module of tools/reelset/families/ (ltx2, wan21, …).")
    dataset: str = Field(description="Dataset name.")
    config: dict = Field(description="The validated [ltx2] or [wan21] section used.")
    trigger_word: str | None = Field(description="The bible's trigger word (from reviewed.json).")
    trigger_prepended: bool = Field(description="True when captions start with the trigger word (always, when the bible has one).")
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

