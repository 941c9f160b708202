"""Name recall/precision of step2-transcript-disambiguate, and time per step, on espeak-ng dialogues.

For the demo (``pipelines/demo``: Archer, Lana, Cyril, Malory, Moscow) and the second test
dialogue of ``tests/test_disambiguate.py`` (Gideon, Priya, Tobias, Ingrid, Lisbon) this runs
the step tools as CLIs (step1-scenes, step2-transcript-base with tiny.en, step2-bible,
step2-shot-reference, step2-transcript-disambiguate, step2-scene-context) in three
configurations — base transcript only, lexical pass only, conditioned + lexical — and prints
name-mention recall / precision (a name counts when the segment overlapping the script
line spells it exactly; a name in a segment whose line does not say it is an insertion)
plus the audit counts and the wall time of each step (seconds, one run).

Usage: ``.venv/bin/python bench/bench_names.py [--out bench/names.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))


from conftest import DEMO_DIR, DEMO_SCRIPT, DEMO_VIDEO, run_tool, scenes_spec, transcript_spec  # noqa: E402
from test_disambiguate import (  # noqa: E402
    DEMO_NAMES,
    SECOND,
    SECOND_BIBLE,
    SECOND_NAMES,
    disambiguate,
    load,
    make_second_video,
    score,
)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    value = fn(*args, **kw)
    return value, round(time.perf_counter() - t0, 2)


def bench_one(tmp: Path, video: Path, vid: str, bible: Path, lines, names) -> dict:
    scenes_out, t_scenes = timed(run_tool, "step1_scenes.py", scenes_spec(video, vid), tmp / "scenes", tmp)
    base_out, t_base = timed(run_tool, "step2_transcript_base.py", transcript_spec(video, vid), tmp / "base", tmp)
    assert scenes_out.returncode == 0 and base_out.returncode == 0
    result = {"timings_s": {"step1-scenes": t_scenes, "step2-transcript-base": t_base}}
    for label, cfg in (("lexical only", {"conditioned": False}), ("conditioned + lexical", {})):
        runs = disambiguate(tmp / label.replace(" ", "_").replace("+", "and"), video, vid, bible, tmp / "scenes", tmp / "base", **cfg)
        t = load(runs["dis"])
        if "base" not in result:
            result["base"] = score(t, lines, names, corrected=False)
        result[label] = {**score(t, lines, names),
                         "applied": sum(a.action == "applied" for a in t.audit),
                         "alternatives": sum(a.action == "alternative" for a in t.audit)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "names.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="reelset-bench-names-") as tmpdir:
        tmp = Path(tmpdir)
        demo_lines = [(line["start_s"], line["text"]) for line in DEMO_SCRIPT["lines"]]
        (tmp / "demo").mkdir()
        results["demo"] = bench_one(tmp / "demo", DEMO_VIDEO, "demo01", DEMO_DIR / "bible.yaml", demo_lines, DEMO_NAMES)
        (tmp / "second").mkdir()
        video = make_second_video(tmp / "second")
        (tmp / "second" / "bible.yaml").write_text(SECOND_BIBLE)
        results["second"] = bench_one(tmp / "second", video, "v2", tmp / "second" / "bible.yaml", SECOND, SECOND_NAMES)
    text = json.dumps(results, indent=2)
    print(text)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
