"""bench/bench_episode.py, the long-input benchmark, in its short variant: a 2-minute synthetic
episode (26 shots, 28 spoken sentences) through every step but training, built with Nix one
step at a time (`pytest -s` prints the benchmark's table). Plus the shot plan of the 22-minute
episode and the scaling verdicts, which need no build."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from bench_episode import (  # noqa: E402
    EXCLUDED,
    FPS,
    SOURCES,
    Run,
    StepRun,
    bench_env,
    bench_steps,
    markdown,
    plan_shots,
    run_one,
    scaling,
    snapshot_checkout,
)

from reelset.log import parse_resources  # noqa: E402

pytestmark = pytest.mark.nix


def test_parse_resources_reads_the_last_resources_line_of_a_log():
    log = ('[reelset] resources: {"peak_rss_mb": 1.0}\nnoise\n'
           'x [reelset] resources: {"peak_rss_mb": 812.4, "children_peak_rss_mb": 95.1}\n[reelset] resources: {bad\n')
    assert parse_resources(log) == {"peak_rss_mb": 812.4, "children_peak_rss_mb": 95.1}
    assert parse_resources("[reelset] timings (s): {}") is None


def test_the_22_minute_shot_plan_is_about_300_varied_shots_and_reproducible():
    shots = plan_shots(22 * 60)
    assert plan_shots(22 * 60) == shots
    assert 270 <= len(shots) <= 330, len(shots)
    assert sum(s.frames for s in shots) == 22 * 60 * FPS
    assert shots[0].start_frame == 0 and all(a.start_frame + a.frames == b.start_frame for a, b in itertools.pairwise(shots))
    assert all(2 * FPS <= s.frames <= 10 * FPS for s in shots)  # the last shot absorbs the rest (< 10 s)
    assert all(a.source != b.source for a, b in itertools.pairwise(shots))
    assert {s.source for s in shots} == set(range(len(SOURCES)))
    assert 4.0 <= 22 * 60 / len(shots) <= 4.8


def _run(minutes: float, per_min: dict[str, float]) -> Run:
    run = Run(minutes, minutes * 60, 1, 0.0, 0)
    run.steps = [StepRun(step, "cpu", "", "", 1.0, t * minutes, None, None, 0, 0.0) for step, t in per_min.items()]
    return run


def test_scaling_says_linear_within_25_percent_else_worse_or_better():
    rows = scaling([_run(22, {"a": 1.2, "b": 1.3, "c": 0.7}), _run(2, {"a": 1.0, "b": 1.0, "c": 1.0})])
    assert [(r["step"], r["ratio"], r["verdict"]) for r in rows] == [("a", 1.2, "linear"), ("b", 1.3, "worse"),
                                                                     ("c", 0.7, "better")]
    assert [r["s_per_added_min"] for r in rows] == [1.22, 1.33, 0.67]  # (22·1.2 - 2·1.0) / 20, …
    assert scaling([_run(2, {"a": 1.0})]) == []


def test_a_two_minute_episode_through_every_step(tmp_path):
    env = bench_env()
    reelset = snapshot_checkout(tmp_path / "reelset")
    steps = bench_steps(reelset)
    assert steps and not {s["name"] for s in steps} & set(EXCLUDED)
    run = run_one(2, tmp_path, reelset, env, steps)
    print("\n" + markdown([run], []))
    c = run.checks
    # every planned cut is found (hard cuts between different lavfi sources), nothing else
    assert abs(c["scenes_detected"] - c["shots_planned"]) <= 1, c
    assert c["clips_missing"] == 0
    # tiny.en on espeak-ng: most sentences come back (names are most of its errors)
    assert c["sentences_recovered"] >= 0.8, c
    assert [s.step for s in run.steps] == [s["name"] for s in steps]
    for s in run.steps:
        assert Path(s.out).is_dir() and s.out_bytes > 0, s
        assert s.timings and s.tool_s is not None and s.tool_s > 0, s
        assert s.resources and s.resources["peak_rss_mb"] > 0 and "children_peak_rss_mb" in s.resources, s
        assert s.wall_s >= s.timings["total"], s  # tool_s may add reference frames built in parallel
    # the packages kept clips (lenient text QA: the tiny model's captions are accepted as text)
    assert c["step3-ltx2-data_kept"] > 0.5 * c["scenes_detected"], c
    assert c["step3-wan21-package_kept"] > 0.5 * c["scenes_detected"], c
    by = {s.step: s for s in run.steps}
    assert by["step1-scenes"].resources["children_peak_rss_mb"] > 0  # ffmpeg cut the clips
