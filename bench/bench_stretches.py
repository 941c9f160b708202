"""How the repeat grouping of step2-reviewed's gathering grows with the season (issue 39): the
CPU time (process_time) of reelset.repeats.apply_repeats — repeated stretches over the videos' timelines, then
whole-clip groups — and of the whole-clip grouping alone (before issue 39), for N synthetic
episodes of M minutes.

Synthetic timelines, no media (the gathering reads only these records): each episode has its own
steps (random 64-bit hashes, random region colours, random band energies), a cold open of its own
(0-2.5 s, so the shared parts start at other step offsets), a 60 s intro and 45 s of credits
shared by every episode (the same steps, each hash with 2 random bits flipped and colours
jittered by ±3, as a re-encode does), clips of 2-8 s cut independently in every episode; one
whole-clip fingerprint per clip. Checks printed: every episode's intro and credits are found
(a stretch group with an occurrence in each episode), nothing else is grouped.

Usage: ``.venv/bin/python bench/bench_stretches.py --episodes 5 10 20 --minutes 22 [--out bench/stretches.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from reelset.repeats import apply_repeats, find_groups  # noqa: E402
from reelset.schemas.repeats import ClipFingerprint, ClipSpan, RepeatsConfig, VideoTimeline  # noqa: E402

STEP_S = 0.5
INTRO_S, CREDITS_S = 60.0, 45.0


def _noisy(rng: random.Random, h: int, rgb: list[int], audio: list[int]) -> tuple[int, list[int], list[int]]:
    for _ in range(2):
        h ^= 1 << rng.randrange(64)
    return h, [min(255, max(0, c + rng.randint(-3, 3))) for c in rgb], [a + rng.randint(-2, 2) for a in audio]


def _step(rng: random.Random) -> tuple[int, list[int], list[int]]:
    return rng.getrandbits(64), [rng.randrange(256) for _ in range(27)], [rng.randint(-60, -10) for _ in range(4)]


def season(n: int, minutes: float, seed: int = 39) -> tuple[list[VideoTimeline], list[ClipFingerprint]]:
    """N synthetic episodes (see the module docstring): their timelines and clip fingerprints."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    intro = [_step(rng) for _ in range(int(INTRO_S / STEP_S))]
    credits = [_step(rng) for _ in range(int(CREDITS_S / STEP_S))]
    tls, fps = [], []
    for k in range(1, n + 1):
        vid = f"ep{k:02d}"
        total = int(minutes * 60 / STEP_S)
        cold = rng.randint(0, 5)
        own = total - cold - len(intro) - len(credits)
        steps = ([_step(rng) for _ in range(cold)] + [_noisy(rng, *s) for s in intro] + [_step(rng) for _ in range(own)]
                 + [_noisy(rng, *s) for s in credits])
        clips, t = [], 0.0
        while t < total * STEP_S:
            e = min(total * STEP_S, t + round(rng.uniform(2, 8), 2))
            clips.append(ClipSpan(clip_id=f"{vid}-s{len(clips) + 1:04d}", start_s=t, end_s=e))
            t = e
        tls.append(VideoTimeline(video_id=vid, step_s=STEP_S, duration_s=total * STEP_S, clips=clips,
                                 dhash=[f"{h:016x}" for h, _, _ in steps], rgb=[bytes(c).hex() for _, c, _ in steps],
                                 contrast=[40] * len(steps), audio=[a for _, _, a in steps]))
        for c in clips:  # 5 steps at (i + 0.5) / 5 of the clip, as reelset.repeats samples frames
            picks = [steps[min(len(steps) - 1, int((c.start_s + (i + 0.5) * (c.end_s - c.start_s) / 5) / STEP_S))] for i in range(5)]
            fps.append(ClipFingerprint(clip_id=c.clip_id, video_id=vid, duration_s=c.end_s - c.start_s,
                                       dhash=[f"{h:016x}" for h, _, _ in picks], rgb=[p[1] for p in picks],
                                       audio=[float(a) for _, _, au in picks for a in au] + [float(picks[0][2][0])] * 12))
    return tls, fps


def run(n: int, minutes: float) -> dict:
    tls, fps = season(n, minutes)
    cfg = RepeatsConfig(keep="one")
    t0 = time.process_time()
    find_groups(fps, cfg)
    t1 = time.process_time()
    groups, *_ = apply_repeats(fps, tls, cfg, [], [], [])
    t2 = time.process_time()
    stretches = [g for g in groups if g.kind == "stretch"]
    full = [g for g in stretches if len({o.video_id for o in g.occurrences}) == n]
    return {"episodes": n, "minutes": minutes, "steps": sum(len(t.dhash) for t in tls), "clips": len(fps),
            "clip_grouping_s": round(t1 - t0, 3), "repeats_s": round(t2 - t1, 3),
            "stretch_groups": len(stretches), "groups_in_every_episode": len(full),
            "other_groups": len(groups) - len(full)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--minutes", type=float, default=22.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for n in args.episodes:
        rows.append(run(n, args.minutes))
        print(json.dumps(rows[-1]))
    print("| episodes × min | steps | clips | whole-clip grouping s (before) | repeats s (after: stretches + clips) | "
          "s per 1000 steps | stretch groups in every episode | other groups |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['episodes']} × {r['minutes']:g} | {r['steps']} | {r['clips']} | {r['clip_grouping_s']} | {r['repeats_s']} | "
              f"{1000 * r['repeats_s'] / r['steps']:.3f} | {r['groups_in_every_episode']} | {r['other_groups']} |")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
