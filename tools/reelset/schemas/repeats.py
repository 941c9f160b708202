"""Repeats across episodes: ``[repeats]`` of dataset.toml, the per-clip fingerprint and the
per-video timeline (one signature per 0.5 s step) a step2-reviewed shard computes, and the
groups its gathering finds — near-identical whole clips, and repeated stretches of time
(writer: tools/step2_reviewed.py; rules in reelset.repeats and reelset.stretches).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reelset.schemas.base import Strict


class RepeatsConfig(Strict):
    """``[repeats]`` of dataset.toml: stretches of time alike in several videos (an intro, a recap,
    end credits, however scene detection cut them) and near-identical whole clips of different
    videos (a re-used establishing shot) are grouped by step2-reviewed's gathering;
    ``keep = "one"`` keeps one copy per group. Only the gathering reads this section, so changing
    it re-runs no per-video shard."""

    keep: Literal["one", "all"] = Field("all", description="'one': keep the first accepted clip of each group of whole clips, and the first occurrence with an accepted clip of each repeated stretch (videos in id order, then time), and drop the other copies — a clip lying mostly (> 50 %) inside a later occurrence, with all its windows (packages name the clip and the time range each copy repeats); 'all': only report the groups.")
    threshold: int = Field(6, ge=0, le=64, description="Largest mean Hamming distance (bits of 64) between the difference hashes (dHash) of the sampled frames of two clips that still counts as the same picture.")
    color_threshold: float = Field(12.0, ge=0, description="Largest mean difference of the sampled frames' region colours (mean R, G, B of 3 x 3 regions, 8-bit units): the dHash is grey-level, this tells a re-tinted shot apart.")
    audio_threshold_db: float = Field(6.0, ge=0, description="Largest mean difference (dB) of the clips' band-energy signatures (8 time slices x 4 frequency bands of the 16 kHz audio).")
    duration_tolerance: float = Field(0.1, ge=0, le=1, description="Largest relative difference of the two clips' durations (0-1).")
    min_s: float = Field(2.0, ge=0.5, description="Shortest repeated stretch, seconds: a run of consecutive 0.5 s steps of one video matching a run of another video (whatever the clips) counts from this length on.")
    step_threshold: int = Field(10, ge=0, le=64, description="Largest dHash distance (bits of 64) between two steps' mean frames that still counts as the same picture (a step averages 0.5 s of frames, so a shifted start changes it a little).")
    step_color_threshold: float = Field(16.0, ge=0, description="Largest mean difference of two steps' region colours (mean R, G, B of 3 x 3 regions of the step's mean frame, 8-bit units).")
    step_audio_db: float = Field(8.0, ge=0, description="Largest mean difference (dB) of the band energies (4 bands per step) over a matched stretch.")


class ClipFingerprint(Strict):
    """The fingerprint of one clip: a few sampled frames and a coarse audio signature."""

    clip_id: str
    video_id: str
    duration_s: float = Field(ge=0, description="Clip duration, seconds.")
    dhash: list[str] = Field(description="64-bit difference hash (hex) of each sampled frame (9x8 grey, at (i + 0.5) / n of the clip).")
    rgb: list[list[int]] = Field(description="Per sampled frame: mean R, G, B (0-255) of each of its 3 x 3 regions, row by row (27 integers).")
    audio: list[float] | None = Field(None, description="Log band energies, dB: 8 time slices x 4 bands (0-0.5, 0.5-1.5, 1.5-3, 3-8 kHz) of the 16 kHz mono audio; null without audio.")
    thumbnail: str | None = Field(None, description="The clip's thumbnail (store path of step1-scenes' JPEG), for the report.")


class ClipSpan(Strict):
    """Where a clip lies in its video (seconds, half-open)."""

    clip_id: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class VideoTimeline(Strict):
    """The time-indexed fingerprint of one video: one signature per step of ``step_s`` seconds
    (step i covers [i * step_s, (i + 1) * step_s) of the video; the last may be partial), made from
    the video's clips (the mean of a step's frames, 9x8 RGB; the 16 kHz mono audio of the step), and
    the clip boundaries, so that a repeated stretch found in time can be mapped back to clips."""

    video_id: str
    step_s: float = Field(gt=0, description="Step length, seconds (0.5).")
    duration_s: float = Field(ge=0, description="End of the video's last clip, seconds.")
    clips: list[ClipSpan] = Field(description="The video's clips in time order.")
    dhash: list[str] = Field(description="Per step: 64-bit difference hash (16 hex digits) of the step's mean frame (9x8 grey).")
    rgb: list[str] = Field(description="Per step: mean R, G, B of the 3 x 3 regions of the step's mean frame, 27 bytes as 54 hex digits.")
    contrast: list[int] = Field(description="Per step: standard deviation of the mean frame's 72 grey pixels (0-255); a featureless step (< 3: black, a flat card) never starts a match.")
    audio: list[list[int]] | None = Field(None, description="Per step: log energy (dB, rounded) of 4 bands (0-0.5, 0.5-1.5, 1.5-3, 3-8 kHz) of the step's audio; null without audio.")


class RepeatSpan(Strict):
    """A time range of one video: the part of a repeated stretch's kept occurrence that a copy repeats."""

    video_id: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class RepeatOccurrence(Strict):
    """One occurrence of a repeated stretch: a time range of one video and the clips lying mostly in it."""

    video_id: str
    start_s: float = Field(ge=0, description="Start in the video, seconds (a step edge, or the clip boundary within one step of it).")
    end_s: float = Field(ge=0, description="End in the video, seconds.")
    offset_s: float = Field(description="Seconds to add to a time of this occurrence to get the same moment in the group's first occurrence (0 for the first).")
    frame_bits: float = Field(description="Mean dHash distance (bits) of the matched steps to the first occurrence.")
    audio_db: float | None = Field(None, description="Mean band-energy difference (dB) of the matched steps to the first occurrence; null without audio.")
    clips: list[str] = Field(default_factory=list, description="Clips of the video lying mostly (> 50 % of their length) inside the occurrence.")


class RepeatMember(Strict):
    """A clip of a repeat group and how far it is from the group's first clip."""

    clip_id: str
    video_id: str
    fate: Literal["kept", "dropped", "left"] = Field(description="'kept': the clip trained on; 'dropped': a copy left out (keep = 'one'); 'left': left as it is (keep = 'all', or not accepted by review/QA anyway).")
    frame_bits: float = Field(description="Mean dHash distance (bits) to the group's first clip.")
    audio_db: float | None = Field(None, description="Mean band-energy difference (dB) to the group's first clip; null without audio.")
    thumbnail: str | None = None
    start_s: float | None = Field(None, description="Clip start in its video, seconds (stretch groups).")
    end_s: float | None = Field(None, description="Clip end in its video, seconds (stretch groups).")
    repeats: RepeatSpan | None = Field(None, description="Stretch groups: the time range of the kept occurrence this clip's span maps to (null for the kept occurrence's own clips).")


class RepeatGroup(Strict):
    """Near-identical clips of at least two videos (``kind = "clip"``: first = lowest video id, then
    clip id), or a repeated stretch of time (``kind = "stretch"``: its occurrences, first = lowest
    video id, then time; members = the clips lying mostly inside an occurrence)."""

    kind: Literal["clip", "stretch"] = Field("clip", description="'clip': whole clips alike (sampled frames, duration); 'stretch': a run of 0.5 s steps alike in several videos, whatever the clips.")
    kept: str | None = Field(description="Clip id kept for the group (the first accepted member; for a stretch, the first accepted clip of the kept occurrence); null when no member was accepted.")
    members: list[RepeatMember] = Field(description="The clips: a clip group's (at least two), a stretch's (those lying mostly inside an occurrence; none when every occurrence lies inside longer clips).")
    occurrences: list[RepeatOccurrence] = Field(default_factory=list, description="Stretch groups: each occurrence (video, time range, clips), first occurrence first.")
