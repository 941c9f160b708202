"""step2-shot-reference: ``references.json`` (writer: tools/step2_shot_reference.py) and the
``frame.json`` of each reference-frame derivation (writer: tools/step2_reference_frame.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, Strict


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

    FILE: ClassVar[str] = "references.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    frames: list[ReferenceFrame] = Field(description="Every reference shot of the bible, in bible order.")



class ExtractedFrame(Strict):
    """``$out/frame.json`` of one reference-frame derivation (one bible reference shot: a video and
    a time), written by tools/step2_reference_frame.py; step2-shot-reference gathers them."""

    FILE: ClassVar[str] = "frame.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video: str = Field(description="Video id the frame comes from.")
    t: float = Field(ge=0, description="Requested timestamp in seconds.")
    frame_index: int = Field(ge=0, description="0-based index of the extracted frame (the frame shown at t: the last frame starting at or before t).")
    frame_t: float = Field(ge=0, description="Presentation time of the extracted frame, seconds (<= t < next frame's time).")
    image: str = Field(description="The PNG, relative to the output ('frame.png').")
    width: int = Field(description="Image width in pixels (square pixels: source width x SAR).")
    height: int = Field(description="Image height in pixels.")
