"""Repeats found by time, not by clip: a time-indexed fingerprint per video (one signature per
0.5 s step, made in step2-reviewed's per-video shard) and the repeated stretches its gathering
finds across videos — an intro, a recap, end credits that scene detection cut into 1, 2 or 3
clips in different episodes (issue 39).

- :class:`TimelineBuilder`: a video's clips, decoded once each (reelset.signature.decode_frames: every
  frame at 9x8 RGB; reelset.media.decode_audio_16k), laid on the video's time axis. Step i covers
  [i * STEP_S, (i + 1) * STEP_S): its signature is the dHash and 3 x 3 region colours of the *mean*
  of its frames (an average over 0.5 s, so a start shifted by a fraction of a step — another
  encode, another cut — changes it little), the contrast of that mean frame, and the log energy
  of 4 bands of its audio.
- :func:`find_stretches`: runs of consecutive steps of one video matching a run of another video.
  Seeds come from an index on the four 16-bit bands of the steps' hashes (two hashes at most 3
  bits apart share a band; the candidate index of issue 29, per step instead of per clip); each
  seed is extended along its diagonal (step j of video B against step j + d of video A, or the
  step either side: a sub-step shift) in both directions, bridging one differing step at a time
  (a flash, a caption). A diagonal is extended once, and the steps of B inside a found run are not
  looked up again (B's intro is linked to the earliest video that has it, not to every one: the
  group joins them all), so the pass is linear in the steps. A run counts when,
  with its ends moved to a clip boundary at most one step away (the cut is where the picture
  changes; a step across it is mixed), it lasts ``[repeats] min_s`` and its audio agrees.
  Occurrences overlapping in one video are one; matched occurrences form a group (connected
  components), the first occurrence is the lowest video id, then the earliest.
- Clips: an occurrence covers the clips of its video lying mostly (> 50 % of their length)
  inside it; reelset.repeats.apply_repeats decides their fate.

Units: seconds; steps are 0-based indices; ranges half-open.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from reelset.schemas.repeats import ClipSpan, RepeatOccurrence, RepeatsConfig, VideoTimeline
from reelset.signature import BANDS_HZ, SILENCE_DB, band_power, dhash, find_root, region_colors

STEP_S = 0.5  # seconds per step
MIN_CONTRAST = 3  # grey standard deviation (0-255) below which a step is featureless (black, a flat card)
BUCKET_CAP = 64  # index entries looked at per band key and step: bounds the work on long static shots
RATE = 16000  # audio samples per second (reelset.media.decode_audio_16k)




class TimelineBuilder:
    """Accumulates one video's clips (each decoded once) into per-step sums; :meth:`timeline` gives
    the :class:`VideoTimeline`. ``duration_s``: end of the video's last clip."""

    def __init__(self, video_id: str, duration_s: float, has_audio: bool):
        self.video_id, self.duration_s, self.has_audio = video_id, duration_s, has_audio
        self.n = max(1, math.ceil(duration_s / STEP_S - 1e-6))
        self.frames = np.zeros((self.n, 8, 9, 3), dtype=np.float64)
        self.count = np.zeros(self.n, dtype=np.int64)
        self.power = np.zeros((self.n, len(BANDS_HZ) - 1), dtype=np.float64)
        self.weight = np.zeros(self.n, dtype=np.float64)
        self.clips: list[ClipSpan] = []

    def add(self, clip_id: str, start_s: float, end_s: float, frames: np.ndarray, fps: float,
            samples: np.ndarray | None) -> None:
        """Lay one clip on the axis: frame j (shape (n, 8, 9, 3), constant ``fps``) shows at
        ``start_s + j / fps`` and counts in the step holding its middle; audio sample k (16 kHz) at
        ``start_s + k / 16000``."""
        self.clips.append(ClipSpan(clip_id=clip_id, start_s=round(start_s, 3), end_s=round(end_s, 3)))
        mids = start_s + (np.arange(len(frames)) + 0.5) / fps
        idx = np.clip((mids / STEP_S).astype(np.int64), 0, self.n - 1)
        np.add.at(self.frames, idx, frames.astype(np.float64))
        np.add.at(self.count, idx, 1)
        if samples is None or len(samples) == 0:
            return
        t0, t1 = start_s, start_s + len(samples) / RATE
        for i in range(max(0, int(t0 / STEP_S)), min(self.n, math.ceil(t1 / STEP_S))):
            a = max(0, round((i * STEP_S - t0) * RATE))
            b = min(len(samples), round(((i + 1) * STEP_S - t0) * RATE))
            if b - a >= 2:
                self.power[i] += band_power(samples[a:b]) * (b - a)
                self.weight[i] += b - a

    def timeline(self) -> VideoTimeline:
        """The per-step signatures (a step without frames takes the one before it)."""
        hashes, rgb, contrast, audio = [], [], [], []
        last = np.zeros((8, 9, 3))
        for i in range(self.n):
            mean = self.frames[i] / self.count[i] if self.count[i] else last
            last = mean
            hashes.append(dhash(mean))
            rgb.append(bytes(region_colors(mean)).hex())
            grey = mean @ np.array([0.299, 0.587, 0.114])
            contrast.append(int(round(float(grey.std()))))
            p = self.power[i] / self.weight[i] if self.weight[i] else np.zeros(len(BANDS_HZ) - 1)
            audio.append([int(round(max(SILENCE_DB, 10 * math.log10(float(v) + 1e-12)))) for v in p])
        return VideoTimeline(video_id=self.video_id, step_s=STEP_S, duration_s=round(self.duration_s, 3),
                             clips=sorted(self.clips, key=lambda c: c.start_s), dhash=hashes, rgb=rgb,
                             contrast=contrast, audio=audio if self.has_audio else None)


@dataclass
class _Steps:
    """A timeline decoded for matching: hashes as ints, colours (n, 27), audio (n, 4) or None."""

    tl: VideoTimeline
    hashes: list[int]
    rgb: np.ndarray
    audio: np.ndarray | None
    flat: np.ndarray

    @classmethod
    def of(cls, tl: VideoTimeline) -> _Steps:
        rgb = np.array([list(bytes.fromhex(c)) for c in tl.rgb], dtype=np.float32).reshape(len(tl.rgb), 27)
        audio = None if tl.audio is None else np.array(tl.audio, dtype=np.float32).reshape(len(tl.audio), -1)
        return cls(tl, [int(h, 16) for h in tl.dhash], rgb, audio, np.array(tl.contrast) < MIN_CONTRAST)

    def __len__(self) -> int:
        return len(self.hashes)

    def keys(self, i: int) -> list[tuple[int, int]]:
        return [(b, (self.hashes[i] >> (16 * b)) & 0xFFFF) for b in range(4)]


def _same_step(a: _Steps, i: int, b: _Steps, j: int, cfg: RepeatsConfig) -> bool:
    """Steps alike: hashes within step_threshold bits (checked first: cheap) and colours within
    step_color_threshold (two featureless steps: colours alone; their hashes are noise)."""
    if not (a.flat[i] and b.flat[j]) and (a.hashes[i] ^ b.hashes[j]).bit_count() > cfg.step_threshold:
        return False
    return float(np.abs(a.rgb[i] - b.rgb[j]).sum()) <= cfg.step_color_threshold * a.rgb.shape[1]


@dataclass
class Match:
    """A run of steps of video B (index in id order) alike to a run of video A: the aligned step
    pairs (B step, A step), and each side's time range with its ends snapped to clip boundaries."""

    a: int
    b: int
    pairs: list[tuple[int, int]]
    a_span: tuple[float, float]
    b_span: tuple[float, float]

    def shift(self) -> float:
        """Seconds to add to a time of B's run to get the same moment in A's (mean over the pairs)."""
        return float(np.mean([i - k for k, i in self.pairs])) * STEP_S


def _extend(A: _Steps, B: _Steps, j: int, d: int, cfg: RepeatsConfig) -> tuple[int, int, list[tuple[int, int]]]:
    """The run through B step j on diagonal d: ([b0, b1), aligned pairs). A step k of B is alike
    when A's step k + d or the one either side is (sub-step shift; the closest of them is its
    pair); one differing step is bridged when the step after it is alike again."""
    def alike(k: int) -> int | None:  # the closest of the three alike steps (the alignment the offset comes from)
        near = [i for i in (k + d, k + d - 1, k + d + 1) if 0 <= i < len(A) and _same_step(A, i, B, k, cfg)]
        return min(near, key=lambda i: (A.hashes[i] ^ B.hashes[k]).bit_count() + float(np.abs(A.rgb[i] - B.rgb[k]).mean()),
                   default=None)

    pairs = {j: j + d}
    for step in (1, -1):
        k = j + step
        while 0 <= k < len(B):
            i = alike(k)
            if i is not None:
                pairs[k] = i
                k += step
                continue
            nxt = k + step
            if 0 <= nxt < len(B) and (i2 := alike(nxt)) is not None:  # one differing step
                pairs[nxt] = i2
                k = nxt + step
                continue
            break
    ks = sorted(pairs)
    return ks[0], ks[-1] + 1, [(k, pairs[k]) for k in ks]


def _snap(t: float, bounds: list[float]) -> float:
    """``t`` moved to the nearest clip boundary at most one step away, else ``t``."""
    near = min(bounds, key=lambda x: abs(x - t), default=t)
    return near if abs(near - t) <= STEP_S + 1e-6 else t


def _bounds(tl: VideoTimeline) -> list[float]:
    return sorted({0.0, tl.duration_s, *(c.start_s for c in tl.clips), *(c.end_s for c in tl.clips)})


def _audio_db(A: _Steps, B: _Steps, pairs: list[tuple[int, int]]) -> float | None:
    if A.audio is None or B.audio is None:
        return None
    return float(np.mean([np.abs(A.audio[i] - B.audio[k]).mean() for k, i in pairs]))


def _bits(A: _Steps, B: _Steps, pairs: list[tuple[int, int]]) -> float:
    return float(np.mean([(A.hashes[i] ^ B.hashes[k]).bit_count() for k, i in pairs]))


def _span(B: _Steps, bounds: list[float], s0: int, s1: int) -> tuple[float, float]:
    """Steps [s0, s1) of a video in seconds, each end snapped to a clip boundary (:func:`_snap`)."""
    return _snap(s0 * STEP_S, bounds), _snap(min(s1 * STEP_S, B.tl.duration_s), bounds)


def find_matches(steps: list[_Steps], cfg: RepeatsConfig) -> list[Match]:
    """Every run of steps of a video alike to a run of an earlier video (``steps`` in video id
    order) lasting ``cfg.min_s`` once its ends are snapped to clip boundaries, with its audio within
    ``cfg.step_audio_db`` (sound on one side only: no match). See the module docstring."""
    bounds = [_bounds(x.tl) for x in steps]
    index: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    out: list[Match] = []
    for vb, B in enumerate(steps):
        claimed = np.zeros(len(B), dtype=bool)  # B's steps inside a run found already (against any earlier video)
        extended: dict[tuple[int, int], int] = {}  # (video A, diagonal) → end of the last extension in B
        for j in range(len(B)):
            if B.flat[j] or claimed[j]:
                continue
            diagonals: dict[int, set[int]] = defaultdict(set)
            for key in B.keys(j):
                for va, i in index[key][:BUCKET_CAP]:
                    if extended.get((va, i - j), -1) <= j:
                        diagonals[va].add(i - j)
            for va in sorted(diagonals):  # the earliest video first; one match per run of B
                if claimed[j]:
                    break
                A, best, ds = steps[va], None, diagonals[va]
                for d in sorted(ds):
                    if not _same_step(A, j + d, B, j, cfg):
                        continue
                    b0, b1, pairs = _extend(A, B, j, d, cfg)
                    extended[(va, d)] = b1
                    if best is None or b1 - b0 > best[1] - best[0]:
                        best = (b0, b1, pairs)
                if best is None or (A.audio is None) != (B.audio is None):
                    continue
                b0, b1, pairs = best
                db = _audio_db(A, B, pairs)
                b_span = _span(B, bounds[vb], b0, b1)
                if (db is not None and db > cfg.step_audio_db) or b_span[1] - b_span[0] < cfg.min_s - 1e-6:
                    continue
                claimed[b0:b1] = True
                a_span = _span(A, bounds[va], min(i for _, i in pairs), max(i for _, i in pairs) + 1)
                out.append(Match(va, vb, pairs, a_span, b_span))
        for j in range(len(B)):
            if not B.flat[j]:
                for key in B.keys(j):
                    index[key].append((vb, j))
    return out


@dataclass
class Stretch:
    """A repeated stretch: its occurrences (first = lowest video id, then earliest)."""

    occurrences: list[RepeatOccurrence]


def find_stretches(timelines: list[VideoTimeline], cfg: RepeatsConfig) -> list[Stretch]:
    """The repeated stretches of ``timelines`` in order of their first occurrence (video id,
    start): the two sides of every :func:`find_matches` run are time ranges of two videos; ranges
    of one video sharing more than one step are one occurrence (their union); matched occurrences
    form a group (connected components)."""
    steps = [_Steps.of(t) for t in sorted(timelines, key=lambda t: t.video_id)]
    matches = find_matches(steps, cfg)
    sides = [(m.a, *m.a_span, n) for n, m in enumerate(matches)] + [(m.b, *m.b_span, n) for n, m in enumerate(matches)]
    occ: list[tuple[int, float, float]] = []  # (video, start, end)
    side_occ: dict[tuple[int, int], int] = {}  # (match, video) → occurrence
    for v, st, en, n in sorted(sides):
        if occ and occ[-1][0] == v and min(en, occ[-1][2]) - st > STEP_S:
            occ[-1] = (v, occ[-1][1], max(en, occ[-1][2]))
        else:
            occ.append((v, st, en))
        side_occ[(n, v)] = len(occ) - 1
    parent = list(range(len(occ)))

    def root(x: int) -> int:
        return find_root(parent, x)

    for n, m in enumerate(matches):
        ra, rb = root(side_occ[(n, m.a)]), root(side_occ[(n, m.b)])
        parent[max(ra, rb)] = min(ra, rb)
    comps: dict[int, list[int]] = defaultdict(list)
    for n, m in enumerate(matches):
        comps[root(side_occ[(n, m.a)])].append(n)
    out = [_stretch(ns, matches, side_occ, occ, steps) for ns in comps.values()]
    return sorted(out, key=lambda s: (s.occurrences[0].video_id, s.occurrences[0].start_s))


def _stretch(ns: list[int], matches: list[Match], side_occ: dict, occ: list[tuple[int, float, float]],
             steps: list[_Steps]) -> Stretch:
    """One group (matches ``ns``): its occurrences, each with its offset to the first occurrence and
    the distances of the match that reached it (breadth first over the matches)."""
    nodes = sorted({side_occ[(n, v)] for n in ns for v in (matches[n].a, matches[n].b)})  # occ is in (video, start) order
    first = nodes[0]
    offset: dict[int, float] = {first: 0.0}
    quality: dict[int, tuple[float, float | None]] = {first: (0.0, None if steps[occ[first][0]].audio is None else 0.0)}
    todo = [first]
    while todo:
        x = todo.pop(0)
        for n in ns:
            m = matches[n]
            a, b = side_occ[(n, m.a)], side_occ[(n, m.b)]
            for known, new, shift in ((a, b, m.shift()), (b, a, -m.shift())):
                if known == x and new not in offset:  # time in a = time in b + shift
                    offset[new] = offset[known] + shift
                    quality[new] = (_bits(steps[m.a], steps[m.b], m.pairs), _audio_db(steps[m.a], steps[m.b], m.pairs))
                    todo.append(new)
    out = []
    for x in nodes:
        v, st, en = occ[x]
        tl = steps[v].tl
        bits, db = quality[x]
        clips = [c.clip_id for c in tl.clips
                 if c.end_s > c.start_s and min(en, c.end_s) - max(st, c.start_s) > 0.5 * (c.end_s - c.start_s)]
        out.append(RepeatOccurrence(video_id=tl.video_id, start_s=round(st, 3), end_s=round(en, 3),
                                    offset_s=round(offset[x], 3), frame_bits=round(bits, 2),
                                    audio_db=None if db is None else round(db, 2), clips=clips))
    return Stretch(out)
