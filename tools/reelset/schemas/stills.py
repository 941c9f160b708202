"""step3-stills: ``[stills]`` of dataset.toml and ``stills.json`` (writer: tools/step3_stills.py).

A still is one frame of an accepted clip, written at the clip's full size in square pixels, with
its caption; stills are chosen per character (or, with ``characters = []``, as one general
"style" set) and scored as :mod:`reelset.stills` says.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, Strict

STYLE = "style"  # the set's key when [stills] characters = [] (a general set, no character)


class StillsConfig(Strict):
    """``[stills]`` of dataset.toml: step3-stills (opt-in: without the section the step is not part of `all`)."""

    characters: list[str] | None = Field(None, description="Bible characters (canonical names) to make stills of; absent: every character of the bible; [] : one general 'style' set of the best frames of every accepted clip, captions without a name.")
    per_character: int = Field(12, ge=1, le=500, description="Most stills per character (per set): the best-scored ones that are not near-duplicates.")
    min_gap_s: float = Field(1.0, ge=0, description="Least time between two stills of one character in one video, seconds (of the source video).")
    sample_fps: float = Field(2.0, gt=0, le=30, description="Candidate frames sampled per second of each clip (a clip gives at least one, its middle frame).")
    max_duplicate_bits: int = Field(10, ge=0, le=64, description="Two stills whose 64-bit difference hashes (dHash, reelset.repeats.dhash) differ in at most this many bits are near-duplicates: the lower-scored one goes (within a video and across videos).")
    format: Literal["png", "jpg"] = Field("png", description="Image format of the stills: 'png' (lossless, as ffmpeg writes the frame) or 'jpg' (Pillow, quality 95, from that frame).")


class Still(Strict):
    """One chosen still and why."""

    character: str = Field(description=f"Canonical name of the character, or '{STYLE}' for the general set.")
    clip_id: str = Field(description="Accepted clip the frame comes from (step2-reviewed).")
    video_id: str = Field(description="Source video id.")
    frame: int = Field(ge=0, description="Frame index in the clip (0-based).")
    t_s: float = Field(ge=0, description="Time of the frame in the source video, seconds.")
    file: str = Field(description="Image file, relative to the step output ('stills/<set>/<clip_id>-fNNNNN.png').")
    caption_file: str = Field(description="Its caption sidecar (same name, .txt), relative to the step output.")
    caption: str = Field(description="The caption: trigger word once, the character's name, the clip's caption without camera motion.")
    width: int = Field(ge=1, description="Width written, pixels (the clip's width in square pixels; never upscaled).")
    height: int = Field(ge=1, description="Height written, pixels.")
    evidence: Literal["reference", "caption", "speaks", "style"] = Field(description="Why the frame is a candidate: 'reference' (a bible reference shot lies in the clip), 'caption' (the reviewed caption or the caption model names the character as seen), 'speaks' (the character only speaks in the clip: the weaker signal), 'style' (general set).")
    shot_type: str = Field(description="The clip's shot type (step2-caption).")
    sharpness: float = Field(ge=0, description="Variance of the Laplacian of the grey frame at the analysis width (OpenCV cv2.Laplacian, 3x3 aperture).")
    exposure: float = Field(ge=0, le=1, description="Exposure score: 1 at mid-grey mean luma, lower towards black or white, times the share of pixels not clipped.")
    score: float = Field(ge=0, description="evidence weight x shot weight x sharpness score x exposure score (reelset.stills.score).")
    dhash: str = Field(description="64-bit difference hash (hex) of the frame (reelset.repeats.dhash).")


class StillSet(Strict):
    """The stills of one character (or of the general set)."""

    character: str = Field(description=f"Canonical name, or '{STYLE}'.")
    clips: list[str] = Field(default_factory=list, description="Accepted clips that were candidates (in reviewed.json order).")
    candidates: int = Field(0, ge=0, description="Frames scored.")
    duplicates: int = Field(0, ge=0, description="Frames left out as near-duplicates of a better one (dHash).")
    too_close: int = Field(0, ge=0, description="Frames left out for lying within min_gap_s of a better one of the same video.")
    stills: list[Still] = Field(default_factory=list, description="Chosen stills, best score first.")
    note: str | None = Field(None, description="Why the set is empty, for people (e.g. no accepted clip shows or hears the character).")


class StillsArtifact(Strict):
    """``$out/stills.json`` of step3-stills (a per-video shard, or the dataset's gathering)."""

    FILE: ClassVar[str] = "stills.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    dataset: str
    trigger_word: str | None = Field(None, description="The bible's trigger word (once in every caption).")
    config: StillsConfig = Field(description="The validated [stills] section used.")
    videos: list[str] = Field(default_factory=list, description="Videos whose accepted clips were searched.")
    sets: list[StillSet] = Field(description="One set per character asked for (config.characters, else the bible's), or the one general set.")
