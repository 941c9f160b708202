"""Repeats across episodes (an intro, a recap, end credits, a re-used establishing shot): a cheap
fingerprint per clip, computed in step2-reviewed's per-video shard, and the grouping of
near-identical clips of different videos, done by its gathering over those small records.

- :func:`fingerprint`: one ffmpeg decode of the clip scaled to 9x8 RGB (:func:`decode_frames`, shared
  with the video's timeline of reelset.stretches; SAMPLES frames at (i + 0.5) / SAMPLES of it: a 64-bit difference hash of the grey image and the mean colour
  of each of its 3 x 3 regions — a region grid, because a hue-rotated test pattern keeps the
  frame's mean colour and its grey structure) and, when the clip has audio, its 16 kHz mono samples (reelset.media.decode_audio_16k)
  cut into 8 time slices x 4 frequency bands of log energy (dB).
- :func:`find_groups`: clips of *different* videos are the same when durations, every sampled
  frame's hash and colour and the audio signature agree within ``[repeats]``
  (:class:`reelset.schemas.repeats.RepeatsConfig`). Candidates come from an index on the four
  16-bit bands of the middle frame's hash (two hashes at most 3 bits apart share a band), so
  the pass is linear in the clips, not quadratic: adding an episode looks up its clips only.
- :func:`apply_repeats`: repeated stretches of time (reelset.stretches) first, then these whole-clip
  groups among the clips no stretch holds; ``keep = "one"`` moves every accepted copy to the
  rejected set, with the clip (and, for a stretch, the time range) it repeats.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from reelset import media
from reelset.schemas.repeats import ClipFingerprint, RepeatGroup, RepeatMember, RepeatsConfig, RepeatSpan, VideoTimeline
from reelset.schemas.review import ClipQA
from reelset.schemas.reviewed import RejectedClip, ReviewedClip
from reelset.signature import audio_signature, decode_frames, dhash, find_root, region_colors
from reelset.stretches import Stretch, find_stretches

SAMPLES = 5  # frames sampled per clip


def fingerprint(clip_id: str, video_id: str, clip: Path, duration_s: float, has_audio: bool,
                thumbnail: str | None = None, frames: np.ndarray | None = None,
                samples: np.ndarray | None = None) -> ClipFingerprint:
    """The fingerprint of one clip file (see the module docstring); ``frames`` (:func:`decode_frames`)
    and ``samples`` (16 kHz mono) when the caller has decoded them already."""
    frames = decode_frames(clip) if frames is None else frames
    picks = [frames[min(len(frames) - 1, int((i + 0.5) * len(frames) / SAMPLES))] for i in range(SAMPLES)]
    if has_audio and samples is None:
        samples = media.decode_audio_16k(clip)
    audio = audio_signature(samples) if has_audio else None
    return ClipFingerprint(clip_id=clip_id, video_id=video_id, duration_s=round(duration_s, 3),
                           dhash=[dhash(f) for f in picks],
                           rgb=[region_colors(f) for f in picks],
                           audio=audio, thumbnail=thumbnail)


def frame_bits(a: ClipFingerprint, b: ClipFingerprint) -> float:
    """Mean Hamming distance (bits) of the sampled frames' hashes."""
    return sum(bin(int(x, 16) ^ int(y, 16)).count("1") for x, y in zip(a.dhash, b.dhash, strict=True)) / len(a.dhash)


def color_diff(a: ClipFingerprint, b: ClipFingerprint) -> float:
    """Mean absolute difference of the sampled frames' region colours (:func:`region_colors`)."""
    return float(np.abs(np.array(a.rgb, dtype=float) - np.array(b.rgb, dtype=float)).mean())


def audio_db(a: ClipFingerprint, b: ClipFingerprint) -> float | None:
    """Mean absolute difference (dB) of the audio signatures; None when either clip has none."""
    if a.audio is None or b.audio is None:
        return None
    return float(np.abs(np.array(a.audio) - np.array(b.audio)).mean())


def same(a: ClipFingerprint, b: ClipFingerprint, cfg: RepeatsConfig) -> bool:
    """True when two clips count as one repeated shot under ``cfg`` (audio on one side only: not the same)."""
    if abs(a.duration_s - b.duration_s) > cfg.duration_tolerance * max(a.duration_s, b.duration_s):
        return False
    if (a.audio is None) != (b.audio is None):
        return False
    if frame_bits(a, b) > cfg.threshold or color_diff(a, b) > cfg.color_threshold:
        return False
    db = audio_db(a, b)
    return db is None or db <= cfg.audio_threshold_db


def _bands(fp: ClipFingerprint) -> list[tuple[int, str]]:
    middle = fp.dhash[len(fp.dhash) // 2]
    return [(i, middle[4 * i: 4 * i + 4]) for i in range(4)]


def find_groups(fps: list[ClipFingerprint], cfg: RepeatsConfig) -> list[list[ClipFingerprint]]:
    """Groups (of at least two videos) of near-identical clips: connected components of
    :func:`same` over pairs of different videos found through the band index; members and groups
    ordered by (video id, clip id)."""
    ordered = sorted(fps, key=lambda f: (f.video_id, f.clip_id))
    parent = list(range(len(ordered)))

    def root(i: int) -> int:
        return find_root(parent, i)

    index: dict[tuple[int, str], list[int]] = defaultdict(list)
    for j, fp in enumerate(ordered):
        seen: set[int] = set()
        for key in _bands(fp):
            for i in index[key]:
                if i in seen or ordered[i].video_id == fp.video_id:
                    continue
                seen.add(i)
                if same(ordered[i], fp, cfg):
                    parent[root(j)] = root(i)
            index[key].append(j)
    comps: dict[int, list[ClipFingerprint]] = defaultdict(list)
    for j, fp in enumerate(ordered):
        comps[root(j)].append(fp)
    groups = [g for g in comps.values() if len({f.video_id for f in g}) > 1]
    return sorted(groups, key=lambda g: (g[0].video_id, g[0].clip_id))


def apply_repeats(fps: list[ClipFingerprint], timelines: list[VideoTimeline], cfg: RepeatsConfig,
                  accepted: list[ReviewedClip], rejected: list[RejectedClip],
                  qa: list[ClipQA]) -> tuple[list[RepeatGroup], list[ReviewedClip], list[RejectedClip], list[ClipQA]]:
    """Find the repeats and apply ``cfg.keep``. Repeated stretches first (reelset.stretches, from the
    videos' timelines): a stretch's kept occurrence is its first one with an accepted clip; with
    "one", every accepted clip lying mostly inside another occurrence leaves the accepted set for
    the rejected one (reason "repeat of <video> <start>–<end> s …", ``repeat_of`` = the kept
    occurrence's clip overlapping most of the time range it repeats, ``repeat_span`` = that range).
    Then whole-clip groups (:func:`find_groups`) of the clips no stretch holds (a repeated shot
    shorter than ``min_s``): each group's accepted clips but the first leave the same way
    (``repeat_of`` the clip kept). Dropped clips are appended after the other rejected clips, in
    accepted order, and their QA record says accepted = False. Groups: stretches (by first
    occurrence), then clip groups."""
    is_accepted = {c.clip_id for c in accepted}
    thumbs = {f.clip_id: f.thumbnail for f in fps}
    groups, dropped = [], {}
    stretch_groups = [_stretch_group(st, timelines, cfg, is_accepted, thumbs, dropped) for st in find_stretches(timelines, cfg)]
    groups = [g for g in stretch_groups if g.members]
    held = {m.clip_id for g in groups for m in g.members}
    for g in find_groups([f for f in fps if f.clip_id not in held], cfg):
        first = g[0]
        kept = next((f.clip_id for f in g if f.clip_id in is_accepted), None)
        members = []
        for f in g:
            fate = "left"
            if f.clip_id == kept:
                fate = "kept"
            elif cfg.keep == "one" and kept is not None and f.clip_id in is_accepted:
                fate = "dropped"
            db = audio_db(first, f)
            members.append(RepeatMember(clip_id=f.clip_id, video_id=f.video_id, fate=fate, frame_bits=frame_bits(first, f),
                                        audio_db=None if db is None else round(db, 2), thumbnail=f.thumbnail))
            if fate == "dropped":
                dropped[f.clip_id] = RejectedClip(clip_id=f.clip_id, video_id=f.video_id, repeat_of=kept, reasons=[
                    f"repeat of {kept} (near-identical picture and sound in another video; [repeats] keep = \"one\")"])
        groups.append(RepeatGroup(kind="clip", kept=kept, members=members))
    if not dropped:
        return groups, accepted, rejected, qa
    qa = [q.model_copy(update={"accepted": False, "overridden": []}) if q.clip_id in dropped else q for q in qa]
    return (groups, [c for c in accepted if c.clip_id not in dropped],
            rejected + [dropped[c.clip_id] for c in accepted if c.clip_id in dropped], qa)


def _stretch_group(st: Stretch, timelines: list[VideoTimeline], cfg: RepeatsConfig, is_accepted: set[str],
                   thumbs: dict[str, str | None], dropped: dict[str, RejectedClip]) -> RepeatGroup:
    """The :class:`RepeatGroup` of one repeated stretch; the copies to drop are added to ``dropped``."""
    spans = {c.clip_id: c for t in timelines for c in t.clips}
    kept_occ = next((o for o in st.occurrences if any(c in is_accepted for c in o.clips)), None)
    kept = next((c for c in kept_occ.clips if c in is_accepted), None) if kept_occ else None
    members = []
    for o in st.occurrences:
        for cid in o.clips:
            if any(cid == m.clip_id for m in members) or cid in dropped:
                continue
            c = spans[cid]
            fate, span, of = "left", None, None
            if o is kept_occ:
                fate = "kept" if cid in is_accepted else "left"
            elif kept_occ is not None:
                shift = o.offset_s - kept_occ.offset_s  # time in the kept occurrence = time here + shift
                lo, hi = max(kept_occ.start_s, c.start_s + shift), min(kept_occ.end_s, c.end_s + shift)
                if hi <= lo:  # the clip's own span maps outside: the occurrence as a whole
                    lo, hi = kept_occ.start_s, kept_occ.end_s
                span = RepeatSpan(video_id=kept_occ.video_id, start_s=round(lo, 2), end_s=round(hi, 2))
                of = max(kept_occ.clips, key=lambda k: min(hi, spans[k].end_s) - max(lo, spans[k].start_s), default=None)
                if cfg.keep == "one" and cid in is_accepted:
                    fate = "dropped"
                    dropped[cid] = RejectedClip(clip_id=cid, video_id=o.video_id, repeat_of=of, repeat_span=span, reasons=[
                        f"repeat of {span.video_id} {span.start_s:.2f}–{span.end_s:.2f} s ({of}; a stretch of "
                        f"{kept_occ.end_s - kept_occ.start_s:.1f} s alike in picture and sound; [repeats] keep = \"one\")"])
            members.append(RepeatMember(clip_id=cid, video_id=o.video_id, fate=fate, frame_bits=o.frame_bits,
                                        audio_db=o.audio_db, thumbnail=thumbs.get(cid), start_s=c.start_s, end_s=c.end_s,
                                        repeats=span))
    return RepeatGroup(kind="stretch", kept=kept, members=members, occurrences=st.occurrences)
