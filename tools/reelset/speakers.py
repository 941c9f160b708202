"""Who speaks each transcript segment: voices clustered per video, named after the bible's voice references.

The rules (step2-speakers; thresholds in :class:`reelset.schemas.speakers.SpeakersConfig`):

1. Each speech segment (``min_segment_s`` or longer, not flagged by ASR's guards) gets its own
   embedding (the unit mean of its 1.6 s windows' embeddings, reelset.voice).
2. The segments of the video are clustered into voices by average-linkage agglomerative
   clustering on cosine similarity (:func:`cluster`): two groups merge while the mean cosine
   between their members is at least ``cluster_similarity``. (Average linkage, not single
   linkage: one borderline pair cannot chain two voices together.) Segments that rule 3 alone
   names after two different characters are never put in one voice (cannot-link constraints;
   two male voices of one accent can be closer to each other than ``cluster_similarity`` and
   still each closest to its own reference).
3. Each voice's mean embedding is compared with every character's reference (the unit mean of
   the embeddings of that character's voice references, from any video of the dataset): it is
   named after the closest character when that cosine is at least ``min_similarity`` and beats
   the second closest by ``min_margin`` — the usual open-set speaker identification rule of a
   threshold plus a margin; else the voice stays unknown (a voice the bible has no reference
   for is never forced onto a name).
4. A segment takes its voice's name when its own cosine to that reference is at least
   ``min_segment_similarity``. When its windows hold two voices (each window named by the
   rule of 3, among the characters this video's voices were named after: a 1.6 s window is too
   short to name one the clusters never heard) and a second character holds at least
   ``mixed_fraction`` of the named windows, two voices speak in it
   (a change of speaker ASR did not split, or overlapping speech): its words are cut
   into runs of one voice (:func:`word_runs`, by the windows over each word; words under windows
   near no reference form runs of their own, an unknown voice, never joined to a neighbour's name
   unless shorter than ``min_run_s``) and each run is embedded and named by the rule of 3 on its own. A segment whose
   runs cannot be told apart (overlap: the windows alternate faster than words) stays ``mixed``
   and gets no name.

Across videos (:func:`link_voices`): the voices no reference names are clustered again by the
rule of 2 over their mean embeddings, so a recurring voice the bible lacks shows up as one
group with the seconds it speaks in each video — a voice worth a reference in bible.yaml.

All vectors are unit L2 norm (dot product = cosine). Shapes: ``emb`` float32[n, dim].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` (float[..., dim]) scaled to unit L2 norm along the last axis."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def cluster(emb: np.ndarray, threshold: float, hints: list[str | None] | None = None) -> list[int]:
    """Average-linkage agglomerative clustering of unit vectors ``emb`` (float32[n, dim]) by cosine:
    merge the two groups with the highest mean pairwise cosine while it is >= ``threshold``.
    ``hints`` (one per row, or None) are cannot-link constraints: two groups whose rows are named
    after different characters (by the naming rule of 3, each row on its own) never merge, so two
    voices that sound alike but each match their own reference stay two voices.
    Returns the group label of each row, numbered 0, 1, … by first appearance (row order). O(n^2)
    memory, O(n^3) worst-case time in numpy (n = segments of one video: a few hundred)."""
    n = len(emb)
    if n == 0:
        return []
    sim = (emb @ emb.T).astype(np.float64)
    sums = sim.copy()  # sums[a, b] = sum of cosines between members of groups a and b
    sizes = np.ones(n)
    alive = np.ones(n, bool)
    members = [[i] for i in range(n)]
    names = [({hints[i]} if hints and hints[i] else set()) for i in range(n)]
    blocked = np.zeros((n, n), bool)
    for a in range(n):
        for b in range(n):
            blocked[a, b] = bool(names[a] and names[b] and names[a] != names[b])
    while alive.sum() > 1:
        avg = sums / np.outer(sizes, sizes)
        avg[~alive, :] = -np.inf
        avg[:, ~alive] = -np.inf
        avg[blocked] = -np.inf
        np.fill_diagonal(avg, -np.inf)
        a, b = np.unravel_index(int(np.argmax(avg)), avg.shape)
        if avg[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        names[a] |= names[b]
        blocked[a, :] |= blocked[b, :]
        blocked[:, a] |= blocked[:, b]
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] += members[b]
    labels = [0] * n
    order = sorted((min(members[g]), g) for g in np.flatnonzero(alive))
    for new, (_, g) in enumerate(order):
        for i in members[g]:
            labels[i] = new
    return labels


def name_voice(vec: np.ndarray, refs: dict[str, np.ndarray], min_similarity: float, min_margin: float
               ) -> tuple[str | None, str | None, float | None, float | None]:
    """(name or None, closest character, its cosine, margin over the second closest) of unit
    vector ``vec`` (float[dim]) against the characters' unit reference vectors ``refs``."""
    if not refs:
        return None, None, None, None
    scored = sorted(((float(vec @ r), c) for c, r in refs.items()), reverse=True)
    best, closest = scored[0]
    margin = best - scored[1][0] if len(scored) > 1 else None
    named = best >= min_similarity and (margin is None or margin >= min_margin)
    return (closest if named else None), closest, best, margin


def window_names(windows: np.ndarray, refs: dict[str, np.ndarray], min_similarity: float,
                 min_margin: float) -> list[str | None]:
    """The character each window (float32[k, dim]) names: its closest reference when that cosine is
    >= ``min_similarity`` and beats the second closest by ``min_margin`` (the voice-naming rule),
    else None."""
    if not refs or len(windows) == 0:
        return [None] * len(windows)
    names = list(refs)
    sims = windows @ np.stack([refs[c] for c in names]).T  # [k, characters]
    order = np.argsort(-sims, axis=1)
    out: list[str | None] = []
    for i in range(len(windows)):
        best = sims[i, order[i, 0]]
        second = sims[i, order[i, 1]] if len(names) > 1 else -np.inf
        out.append(names[order[i, 0]] if best >= min_similarity and best - second >= min_margin else None)
    return out


def word_runs(word_mids: list[float], spans: list[tuple[float, float]], names: list[str | None],
              min_run_s: float, word_spans: list[tuple[float, float]]) -> list[tuple[int, int, str | None]]:
    """Cut a segment's words into runs of one voice: each word (midpoint ``word_mids``, seconds)
    takes the label most windows covering it give (``spans`` [start, end) seconds, ``names``; None
    = a window no reference names, i.e. a voice the bible does not know; ties: the earlier
    window); a word no window covers takes its predecessor's (the first ones, their successor's);
    consecutive words of one label form a run; a run shorter than ``min_run_s`` (``word_spans``
    seconds) joins the run before it (the first one, the run after it). Returns
    ``[(first word, last word + 1, name or None)]``."""
    covered: list[bool] = []
    labels: list[str | None] = []
    for mid in word_mids:
        votes = [n for (a, b), n in zip(spans, names, strict=True) if a <= mid < b]
        covered.append(bool(votes))
        labels.append(max(votes, key=votes.count) if votes else (labels[-1] if labels else None))
    first = next((i for i, c in enumerate(covered) if c), None)
    for i in range(first or 0):  # leading uncovered words take the first covered word's label
        labels[i] = labels[first]
    runs: list[list] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][2] == lab:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, lab])
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for k, (a, b, _) in enumerate(runs):
            if word_spans[b - 1][1] - word_spans[a][0] < min_run_s:
                into = k - 1 if k > 0 else k + 1
                lo, hi = min(runs[into][0], a), max(runs[into][1], b)
                runs[into] = [lo, hi, runs[into][2]]
                del runs[k]
                changed = True
                break
    merged: list[list] = []
    for r in runs:  # neighbours of one name after the joins
        if merged and merged[-1][2] == r[2]:
            merged[-1][1] = r[1]
        else:
            merged.append(list(r))
    return [(a, b, n) for a, b, n in merged]


def mixed(names: list[str | None], fraction: float) -> bool:
    """True when a second character holds at least ``fraction`` of the named windows of ``names``
    (windows no reference names — voice boundaries, an unknown voice — are not counted here; the
    runs of :func:`word_runs` keep them apart)."""
    heard = [n for n in names if n is not None]
    if not heard:
        return False
    counts = sorted((heard.count(c) for c in set(heard)), reverse=True)
    return len(counts) > 1 and counts[1] / len(heard) >= fraction


@dataclass(frozen=True)
class UnknownVoice:
    """One voice of one video that no reference names: where it is and how long it speaks
    (seconds), its longest segment (start, end in seconds: a span for a bible voice reference)."""

    video_id: str
    voice: str
    seconds: float
    longest: tuple[float, float]
    embedding: np.ndarray


def link_voices(voices: list[UnknownVoice], threshold: float) -> list[list[UnknownVoice]]:
    """Groups of unknown voices heard in two or more videos: :func:`cluster` (average linkage,
    merge while the mean cosine is >= ``threshold``, i.e. [speakers] cluster_similarity) over the
    voices' mean embeddings (float32[dim] each, unit norm; voices of one video were already kept
    apart by that video's clustering, so only groups spanning several videos are returned).
    Each group lists its voices by video id; groups by total seconds, most first."""
    if len(voices) < 2:
        return []
    labels = cluster(np.stack([v.embedding for v in voices]).astype(np.float32), threshold)
    groups: dict[int, list[UnknownVoice]] = {}
    for v, label in zip(voices, labels, strict=True):
        groups.setdefault(label, []).append(v)
    linked = [sorted(g, key=lambda v: (v.video_id, v.voice)) for g in groups.values() if len({v.video_id for v in g}) > 1]
    return sorted(linked, key=lambda g: (-sum(v.seconds for v in g), g[0].video_id, g[0].voice))
