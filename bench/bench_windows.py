"""What each ``windows`` mode keeps of a reviewed clip set (issue 34): per package step and mode,
the items written, accepted → packaged seconds, and the dialogue lines the LTX-2 items quote in
their [SPEECH] section vs the lines a window edge cuts (left out).

Input: a step2-reviewed output folder (``--reviewed``; default: the demo's, ``nix build --impure
.#host.step2-reviewed``). Each package tool runs once per mode as its CLI with the dataset's
default section plus ``windows = <mode>`` (``--section key=value`` adds settings, e.g.
``frame_sample=3``), into a temporary folder. "before" is the one-window-per-shot package of
before issue 34 ('head') with the whole shot's lines quoted (reelset.package.speech_section
without a window), counted against the head window's span.

Usage: ``.venv/bin/python bench/bench_windows.py [--reviewed DIR] [--out bench/windows.json]``;
record the table in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools")]

from reelset.package import line_fate  # noqa: E402
from reelset.schemas.manifest import PackageManifest  # noqa: E402
from reelset.schemas.reviewed import ReviewedArtifact  # noqa: E402

MODES = ["head", "chunk", "slide", "uniform", "dialogue"]
STEPS = {"step3-ltx2-data": ("step3_ltx2_data.py", "ltx2"), "step3-wan21-package": ("step3_wan_package.py", "wan21")}
EXTRA = {"slide": {"frame_stride": 48}, "uniform": {"frame_sample": 2}}


def demo_reviewed() -> Path:
    """The demo's step2-reviewed output (built with Nix, host toolchain)."""
    env = {**os.environ, "NIX_CONFIG": "experimental-features = nix-command flakes\nsubstituters =\nbuild-users-group =\n"
           "sandbox = relaxed\nextra-system-features = cuda"}
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", ".#host.step2-reviewed"], cwd=ROOT,
                          capture_output=True, text=True, env=env, check=True)
    return Path(json.loads(proc.stdout)[0]["outputs"]["out"])


def run_mode(reviewed: Path, step: str, mode: str, work: Path) -> PackageManifest:
    """One package tool run with ``windows = mode``; its manifest."""
    script, section = STEPS[step]
    spec = {"step": step, "dataset": "bench", "device": "cpu", "inputs": {"step2-reviewed": str(reviewed)},
            "config": {section: {"windows": mode, **EXTRA.get(mode, {})}}}
    (work / f"{step}-{mode}.json").write_text(json.dumps(spec))
    out = work / f"{step}-{mode}"
    subprocess.run([sys.executable, str(ROOT / "tools" / script), "--spec", str(work / f"{step}-{mode}.json"),
                    "--out", str(out)], check=True, capture_output=True, text=True)
    return PackageManifest.model_validate_json((out / "manifest.json").read_bytes())


def row(m: PackageManifest, mode: str) -> dict:
    kept = [c for c in m.clips if c.fate == "kept"]
    return {"mode": mode, "items": m.kept, "accepted_s": m.accepted_s, "packaged_s": m.packaged_s,
            "used": round(m.packaged_s / m.accepted_s, 3) if m.accepted_s else 0.0,
            "lines_quoted": sum(c.lines_quoted for c in kept), "lines_cut": sum(c.lines_cut for c in kept)}


def before_row(m: PackageManifest, reviewed: ReviewedArtifact) -> dict:
    """The head package with the whole shot's lines quoted: lines quoted, and of those how many lie
    outside the window (quoted, not in the item's sound)."""
    by_id = {c.clip_id: c for c in reviewed.accepted}
    quoted = outside = 0
    for c in (c for c in m.clips if c.fate == "kept"):
        lines = [ln for ln in by_id[c.clip_id].lines if ln.text.strip()]
        quoted += len(lines)
        outside += sum(line_fate(ln, c.start_s, c.end_s) != "inside" for ln in lines)
    return {"mode": "before (head, whole-shot [SPEECH])", "items": m.kept, "accepted_s": m.accepted_s,
            "packaged_s": m.packaged_s, "lines_quoted": quoted, "lines_quoted_outside_window": outside}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reviewed", type=Path, help="a step2-reviewed output folder (default: the demo's, built with Nix)")
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = ap.parse_args()
    reviewed = args.reviewed or demo_reviewed()
    rv = ReviewedArtifact.model_validate_json((reviewed / "reviewed.json").read_bytes())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for step in STEPS:
            for mode in MODES:
                m = run_mode(reviewed, step, mode, Path(tmp))
                rows.append({"step": step, **row(m, mode)})
                if mode == "head" and step == "step3-ltx2-data":
                    rows.append({"step": step, **before_row(m, rv)})
                print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
