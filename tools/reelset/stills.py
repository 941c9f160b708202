"""Stills for image LoRAs (step3-stills): which frames of the accepted clips show a character,
how good each is, which of them to keep, and the caption a still gets.

- Candidates: a character's clips are the accepted clips where it is *seen* — a bible reference
  shot lies in the clip ('reference'), or the reviewed caption or the caption model names it
  ('caption') — or, the weaker signal, where it only *speaks* ('speaks': its dialogue lines,
  step2-speakers through the scene context). Frames are sampled at ``[stills] sample_fps``.
- Score (:func:`score`): evidence weight x shot weight (close-ups first for a character; from
  step2-caption's shot type) x sharpness score x exposure score, each in [0, 1].
  Sharpness is the variance of the Laplacian of the grey frame (Pech-Pacheco et al. 2000,
  "Diatom autofocusing in brightfield microscopy"; OpenCV ``cv2.Laplacian``, 3x3 aperture) at
  :data:`ANALYSIS_WIDTH`, so sizes compare; mapped to ``v / (v + SHARP_HALF)``.
- Choice (:func:`choose`): best score first; a frame goes when its dHash
  (:func:`reelset.repeats.dhash`, the repeats fingerprint) is within ``max_duplicate_bits`` of a
  kept one (any video), or it lies within ``min_gap_s`` of a kept one of the same video.
- Caption (:func:`still_caption`): the trigger word once, the character's name, the clip's
  caption without its camera-motion clauses (a still has no camera motion).

Sizes are pixels, times seconds.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from reelset import ReelsetError, media
from reelset.captiontext import caption_for, has_word, strip_trigger
from reelset.repeats import dhash
from reelset.schemas.scenes import VideoInfo

ANALYSIS_WIDTH = 480  # frames are scored at this width (or their own, when smaller): never upscaled
SHARP_HALF = 100.0  # Laplacian variance scoring 0.5: the usual blur threshold of the measure at ~480 px
CLIPPED_LOW, CLIPPED_HIGH = 5, 250  # luma at or beyond these counts as crushed / blown out
# evidence weights: seen beats speaks (a speaker may be off screen)
EVIDENCE = {"reference": 1.0, "caption": 0.9, "speaks": 0.5, "style": 1.0}
# close-ups first for faces: step2-caption's shot types (reelset.schemas.captions.SHOT_TYPES)
SHOT_WEIGHT = {"close-up": 1.0, "medium close-up": 0.95, "extreme close-up": 0.85, "medium": 0.8,
               "medium wide": 0.7, "wide": 0.6, "extreme wide": 0.5, "unknown": 0.7}

# camera-motion phrases of a caption (step2-caption's CAMERA_MOTIONS and the words around them):
# a clause holding one is dropped from a still's caption
_MOTION = re.compile(r"\b(camera|pans?|panning|panned|tilts?|tilting|tilted|zoom(s|ing|ed)?\s+(in|out)|zoom shot|dolly|"
                     r"dollies|dollying|tracking shot|tracks? (left|right|along|with)|handheld|hand-held|crane shot|"
                     r"push(es|ing)? in|pull(s|ing)? (back|out)|static shot|locked[- ]off)\b", re.IGNORECASE)
_CLAUSE = re.compile(r"[^,;.:!?]+[,;.:!?]*")


def without_camera_motion(caption: str) -> str:
    """``caption`` without the clauses (text between , ; . : ! ?) that describe camera motion
    ('static camera', 'the camera pans left', 'zoom in', 'tracking shot'); the rest, its
    punctuation kept, ends with a full stop. 'Lana as colour bars; static camera, wide shot.' →
    'Lana as colour bars; wide shot.'"""
    kept = [c.strip() for c in _CLAUSE.findall(caption) if c.strip() and not _MOTION.search(c)]
    text = " ".join(kept).strip()
    text = re.sub(r"[,;:\s]+$", "", text)
    return text + "." if text and text[-1] not in ".!?" else text


def still_caption(caption: str, trigger: str | None, name: str | None) -> str:
    """The caption of a still: ``'<trigger> <name>, <caption>'`` — the trigger word exactly once
    (reelset's one rule, :func:`reelset.captiontext.caption_for`), the
    character's canonical ``name`` (left out when the caption already names it as a whole word, or
    for the general set, ``name`` None), the caption without camera motion
    (:func:`without_camera_motion`), one line."""
    text = without_camera_motion(strip_trigger(caption, trigger))
    if name and not has_word(text, name):
        text = f"{name}, {text}" if text else name
    return caption_for(text, trigger)


@dataclass(frozen=True)
class Frame:
    """One sampled frame of a clip and its measures."""

    index: int  # frame index in the clip
    t: float  # seconds from the clip's start
    sharpness: float  # variance of the Laplacian at the analysis width
    exposure: float  # 0..1
    dhash: str  # 64-bit difference hash, hex


def sample_indices(frame_count: int, fps: float, sample_fps: float) -> list[int]:
    """Frame indices sampled from a clip of ``frame_count`` frames at ``fps``: every
    ``round(fps / sample_fps)``-th frame starting half a step in, at least the middle one."""
    step = max(1, round(fps / sample_fps))
    picks = list(range(step // 2, frame_count, step))
    return picks or [frame_count // 2]


def exposure_score(grey: np.ndarray) -> float:
    """1 at a mid-grey mean luma (127.5), falling linearly to 0 at black or white, times the share
    of pixels neither crushed (<= :data:`CLIPPED_LOW`) nor blown (>= :data:`CLIPPED_HIGH`)."""
    mean = float(grey.mean())
    clipped = float(np.count_nonzero((grey <= CLIPPED_LOW) | (grey >= CLIPPED_HIGH))) / grey.size
    return max(0.0, 1.0 - abs(mean - 127.5) / 127.5) * (1.0 - clipped)


def measure(clip: Path, frame_count: int, fps: float, width: int, height: int, sample_fps: float) -> list[Frame]:
    """Decode the sampled frames of ``clip`` (:func:`sample_indices`) at the analysis width and
    measure each: sharpness (``cv2.Laplacian`` of the grey frame, CV_64F, its variance), exposure
    (:func:`exposure_score`), dHash of the frame at 9x8 (``cv2.INTER_AREA``). ReelsetError naming
    the clip when ffmpeg fails or returns fewer frames than asked."""
    picks = sample_indices(frame_count, fps, sample_fps)
    aw = min(ANALYSIS_WIDTH, width) // 2 * 2
    ah = max(2, round(height * aw / width) // 2 * 2)
    select = "+".join(f"eq(n\\,{i})" for i in picks)
    proc = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(clip), "-map", "0:v:0",
                           "-vf", f"select='{select}',scale={aw}:{ah}:flags=area,format=rgb24", "-fps_mode", "passthrough",
                           "-f", "rawvideo", "-"], capture_output=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{clip}: decoding frames for stills failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    n = len(data) // (aw * ah * 3)
    if n < len(picks):
        raise ReelsetError(f"{clip}: {n} frames decoded of the {len(picks)} sampled (frames {picks[:5]}…): the clip is "
                           f"shorter than reviewed.json says ({frame_count} frames)")
    rgbs = data[: n * aw * ah * 3].reshape(n, ah, aw, 3)
    out = []
    for i, rgb in zip(picks, rgbs, strict=False):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        sharp = float(cv2.Laplacian(grey, cv2.CV_64F).var())
        small = cv2.resize(rgb, (9, 8), interpolation=cv2.INTER_AREA)
        out.append(Frame(i, i / fps, sharp, exposure_score(grey), dhash(small)))
    return out


def score(evidence: str, shot_type: str | None, sharpness: float, exposure: float) -> float:
    """evidence weight (:data:`EVIDENCE`) x shot weight (:data:`SHOT_WEIGHT`; 1 for the general set,
    ``shot_type`` None) x ``sharpness / (sharpness + SHARP_HALF)`` x exposure; 0..1."""
    shot = 1.0 if shot_type is None else SHOT_WEIGHT.get(shot_type, SHOT_WEIGHT["unknown"])
    return EVIDENCE[evidence] * shot * (sharpness / (sharpness + SHARP_HALF)) * exposure


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass
class Candidate:
    """A scored frame of one character's clip."""

    clip_id: str
    video_id: str
    t_s: float  # in the source video
    score: float
    dhash: str
    payload: object = None  # what the caller needs to write it


def choose(cands: list[Candidate], limit: int, min_gap_s: float, max_bits: int) -> tuple[list[Candidate], int, int]:
    """The best ``limit`` candidates, best score first (ties: clip id, time): a candidate within
    ``max_bits`` dHash bits of a kept one is a near-duplicate, one within ``min_gap_s`` of a kept one
    of the same video is too close; both are skipped. Returns (kept, duplicates, too close)."""
    kept: list[Candidate] = []
    dupes = close = 0
    for c in sorted(cands, key=lambda c: (-c.score, c.clip_id, c.t_s)):
        if len(kept) >= limit:
            break
        if any(hamming(c.dhash, k.dhash) <= max_bits for k in kept):
            dupes += 1
        elif any(k.video_id == c.video_id and abs(k.t_s - c.t_s) < min_gap_s for k in kept):
            close += 1
        else:
            kept.append(c)
    return kept, dupes, close


def square_size(info: VideoInfo, source_sar: Fraction = Fraction(1), source_rotation: int = 0) -> tuple[int, int]:
    """A still's size (width, height) in square pixels, never larger than the source's pixels on
    either axis. ``info``: the clip; ``source_sar`` / ``source_rotation``: the source video's sample
    aspect ratio and display turn (step1-scenes' ``source``). The clip's own SAR is applied by
    shrinking one side (SAR > 1: the height, SAR < 1: the width); a clip of an anamorphic source was
    widened by step1-scenes (:func:`reelset.media.display_size`: width x SAR, a quarter turn inverts the
    SAR), so when that SAR is above 1 both sides shrink by it (720x480 at 32:27 → clip 853x480 → still
    720x405); at or below 1 the clip is kept as it is (no side of it is wider than the source)."""
    sar = Fraction(info.sample_aspect_ratio.replace(":", "/"))
    w, h = info.width, info.height
    if sar > 1:
        h = h / sar
    elif sar < 1:
        w = w * sar
    widened = 1 / source_sar if source_rotation in (90, 270) else source_sar
    if widened > 1:  # floored: step1's width was rounded up to even, so rounding could exceed the source by 1
        return max(2, int(w / widened)), max(2, int(h / widened))
    return max(2, round(w)), max(2, round(h))
