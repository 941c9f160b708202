"""Repeats across episodes: ``[repeats]`` of dataset.toml, the per-clip fingerprint a
step2-reviewed shard computes and the groups of near-identical clips its gathering finds
(writer: tools/step2_reviewed.py; rules in reelset.repeats).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reelset.schemas.base import Strict


class RepeatsConfig(Strict):
    """``[repeats]`` of dataset.toml: clips of different videos that are near-identical (an intro,
    a recap, end credits, a re-used establishing shot) are grouped by step2-reviewed's gathering;
    ``keep = "one"`` keeps one clip per group. Only the gathering reads this section, so changing
    it re-runs no per-video shard."""

    keep: Literal["one", "all"] = Field("all", description="'one': keep the first accepted clip of each group (videos in id order) and drop the other copies (packages name the clip each copy repeats); 'all': only report the groups.")
    threshold: int = Field(6, ge=0, le=64, description="Largest mean Hamming distance (bits of 64) between the difference hashes (dHash) of the sampled frames of two clips that still counts as the same picture.")
    color_threshold: float = Field(12.0, ge=0, description="Largest mean difference of the sampled frames' region colours (mean R, G, B of 3 x 3 regions, 8-bit units): the dHash is grey-level, this tells a re-tinted shot apart.")
    audio_threshold_db: float = Field(6.0, ge=0, description="Largest mean difference (dB) of the clips' band-energy signatures (8 time slices x 4 frequency bands of the 16 kHz audio).")
    duration_tolerance: float = Field(0.1, ge=0, le=1, description="Largest relative difference of the two clips' durations (0-1).")


class ClipFingerprint(Strict):
    """The fingerprint of one clip: a few sampled frames and a coarse audio signature."""

    clip_id: str
    video_id: str
    duration_s: float = Field(ge=0, description="Clip duration, seconds.")
    dhash: list[str] = Field(description="64-bit difference hash (hex) of each sampled frame (9x8 grey, at (i + 0.5) / n of the clip).")
    rgb: list[list[int]] = Field(description="Per sampled frame: mean R, G, B (0-255) of each of its 3 x 3 regions, row by row (27 integers).")
    audio: list[float] | None = Field(None, description="Log band energies, dB: 8 time slices x 4 bands (0-0.5, 0.5-1.5, 1.5-3, 3-8 kHz) of the 16 kHz mono audio; null without audio.")
    thumbnail: str | None = Field(None, description="The clip's thumbnail (store path of step1-scenes' JPEG), for the report.")


class RepeatMember(Strict):
    """A clip of a repeat group and how far it is from the group's first clip."""

    clip_id: str
    video_id: str
    fate: Literal["kept", "dropped", "left"] = Field(description="'kept': the clip trained on; 'dropped': a copy left out (keep = 'one'); 'left': left as it is (keep = 'all', or not accepted by review/QA anyway).")
    frame_bits: float = Field(description="Mean dHash distance (bits) to the group's first clip.")
    audio_db: float | None = Field(None, description="Mean band-energy difference (dB) to the group's first clip; null without audio.")
    thumbnail: str | None = None


class RepeatGroup(Strict):
    """Near-identical clips of at least two videos (first = lowest video id, then clip id)."""

    kept: str | None = Field(description="Clip id kept for the group (the first accepted member); null when no member was accepted.")
    members: list[RepeatMember] = Field(min_length=2)
