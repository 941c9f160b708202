"""Repeats across episodes (an intro, a recap, end credits, a re-used establishing shot): a cheap
fingerprint per clip, computed in step2-reviewed's per-video shard, and the grouping of
near-identical clips of different videos, done by its gathering over those small records.

- :func:`fingerprint`: one ffmpeg decode of the clip at 4 fps scaled to 9x8 RGB (SAMPLES frames
  at (i + 0.5) / SAMPLES of it: a 64-bit difference hash of the grey image and the mean colour
  of each of its 3 x 3 regions — a region grid, because a hue-rotated test pattern keeps the
  frame's mean colour and its grey structure) and, when the clip has audio, its 16 kHz mono samples (reelset.media.decode_audio_16k)
  cut into 8 time slices x 4 frequency bands of log energy (dB).
- :func:`find_groups`: clips of *different* videos are the same when durations, every sampled
  frame's hash and colour and the audio signature agree within ``[repeats]``
  (:class:`reelset.schemas.repeats.RepeatsConfig`). Candidates come from an index on the four
  16-bit bands of the middle frame's hash (two hashes at most 3 bits apart share a band), so
  the pass is linear in the clips, not quadratic: adding an episode looks up its clips only.
- :func:`apply_repeats`: ``keep = "one"`` moves every accepted copy but the group's first
  accepted clip to the rejected set, with the clip it repeats.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np

from reelset import ReelsetError, media
from reelset.schemas.repeats import ClipFingerprint, RepeatGroup, RepeatMember, RepeatsConfig
from reelset.schemas.review import ClipQA
from reelset.schemas.reviewed import RejectedClip, ReviewedClip

SAMPLES = 5  # frames sampled per clip
SLICES = 8  # audio time slices
BANDS_HZ = (0, 500, 1500, 3000, 8000)  # edges of the 4 audio bands
SILENCE_DB = -100.0


def _frames(clip: Path) -> np.ndarray:
    """The clip at 4 fps (at least its first frame) as 9x8 RGB, shape (n, 8, 9, 3) uint8."""
    proc = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(clip), "-map", "0:v:0",
                           "-vf", "fps=4:round=down,scale=9:8:flags=area,format=rgb24", "-f", "rawvideo", "-"],
                          capture_output=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{clip}: fingerprint decode failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    n = len(data) // (8 * 9 * 3)
    if n == 0:
        raise ReelsetError(f"{clip}: no video frame to fingerprint")
    return data[: n * 8 * 9 * 3].reshape(n, 8, 9, 3)


def dhash(rgb: np.ndarray) -> str:
    """64-bit difference hash (hex) of one 9x8 RGB image: bit = a pixel brighter than its left neighbour."""
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def region_colors(rgb: np.ndarray) -> list[int]:
    """Mean R, G, B (0-255) of each of the 3 x 3 regions of one 9x8 RGB image: 27 integers, row by row."""
    out = []
    for band in np.array_split(rgb.astype(np.float32), 3, axis=0):
        for cell in np.array_split(band, 3, axis=1):
            out += [int(round(float(c))) for c in cell.reshape(-1, 3).mean(axis=0)]
    return out


def audio_signature(samples: np.ndarray, rate: int = 16000) -> list[float]:
    """SLICES x 4 band log energies (dB, rounded to 0.1) of mono ``samples``; silence → SILENCE_DB."""
    out = []
    for part in np.array_split(samples.astype(np.float32), SLICES):
        if len(part) < 2:
            out += [SILENCE_DB] * (len(BANDS_HZ) - 1)
            continue
        power = np.abs(np.fft.rfft(part)) ** 2 / len(part)
        freqs = np.fft.rfftfreq(len(part), 1 / rate)
        for lo, hi in zip(BANDS_HZ, BANDS_HZ[1:], strict=False):
            e = float(power[(freqs >= lo) & (freqs < hi)].sum())
            out.append(round(max(SILENCE_DB, 10 * np.log10(e + 1e-12)), 1))
    return out


def fingerprint(clip_id: str, video_id: str, clip: Path, duration_s: float, has_audio: bool,
                thumbnail: str | None = None) -> ClipFingerprint:
    """The fingerprint of one clip file (see the module docstring)."""
    frames = _frames(clip)
    picks = [frames[min(len(frames) - 1, int((i + 0.5) * len(frames) / SAMPLES))] for i in range(SAMPLES)]
    audio = audio_signature(media.decode_audio_16k(clip)) if has_audio else None
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
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

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


def apply_repeats(fps: list[ClipFingerprint], cfg: RepeatsConfig, accepted: list[ReviewedClip],
                  rejected: list[RejectedClip], qa: list[ClipQA]) -> tuple[list[RepeatGroup], list[ReviewedClip],
                                                                         list[RejectedClip], list[ClipQA]]:
    """Group the fingerprints and apply ``cfg.keep``: with "one", each group's accepted clips but the
    first leave the accepted set for the rejected one (reason "repeat of <clip id> …", ``repeat_of``),
    appended after the other rejected clips, and their QA record says accepted = False."""
    is_accepted = {c.clip_id for c in accepted}
    groups, dropped = [], {}
    for g in find_groups(fps, cfg):
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
        groups.append(RepeatGroup(kept=kept, members=members))
    if not dropped:
        return groups, accepted, rejected, qa
    qa = [q.model_copy(update={"accepted": False, "overridden": []}) if q.clip_id in dropped else q for q in qa]
    return (groups, [c for c in accepted if c.clip_id not in dropped],
            rejected + [dropped[c.clip_id] for c in accepted if c.clip_id in dropped], qa)
