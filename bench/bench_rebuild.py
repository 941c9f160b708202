"""Rebuild sets and evaluation time of the demo, for any commit (before/after comparisons).

For each edit, the rebuild set is the set of derivations of `.#host.demo`'s closure that the
edit changes: drvs(edited) − drvs(unedited), both read with `nix show-derivation -r` of the
demo's drvPath (no build is needed, so an old commit can be measured with today's venv; an
evaluation that reads bible.json builds step2-bible first). cuda derivations are those with
`requiredSystemFeatures = cuda`.

    python bench/bench_rebuild.py --commit 7a9ddd8 --commit HEAD   # writes bench/rebuild.json

Evaluation time: wall seconds of `nix eval --impure .#host.demo.drvPath` with the eval cache
off, median of 3 (a no-op: what every `nix build` pays before it starts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NIX_CONFIG = "\n".join(["experimental-features = nix-command flakes", "substituters =", "build-users-group =",
                        "sandbox = relaxed", "extra-system-features = cuda"])
ENV = {**os.environ, "NIX_CONFIG": NIX_CONFIG, "REELSET_PYTHON": str(REPO / ".venv/bin/python")}


def sh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=ENV)


def closure(repo: Path) -> dict[str, dict]:
    """Every reelset derivation of .#host.demo's closure: {drv path: derivation (show-derivation)}."""
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    proc = sh("nix", "eval", "--impure", "--raw", ".#host.demo.drvPath", cwd=repo)
    if proc.returncode != 0:
        raise SystemExit(f"bench_rebuild: evaluation failed in {repo}:\n{proc.stderr[-2000:]}")
    shown = json.loads(sh("nix", "show-derivation", "-r", proc.stdout.strip(), cwd=repo).stdout)
    return {p: d for p, d in shown.items() if re.match(r"/nix/store/[a-z0-9]{32}-reelset-", p)
            and "-src" not in p and not p.endswith(".py.drv")}


def cuda_drvs(drvs: dict[str, dict]) -> set[str]:
    return {p for p, d in drvs.items() if "cuda" in d["env"].get("requiredSystemFeatures", "")}


def edits(repo: Path) -> dict[str, callable]:
    """The issue's edits, on this commit's layout."""
    def comment(rel):
        return lambda: (repo / rel).write_text((repo / rel).read_text() + "\n# bench edit\n")

    def second_video():
        shutil.copy2(repo / "pipelines/demo/demo.mp4", repo / "pipelines/demo/demo2.mp4")
        toml = repo / "pipelines/demo/dataset.toml"
        toml.write_text(toml.read_text().replace('path = "demo.mp4"\n', 'path = "demo.mp4"\n\n[[videos]]\nid = "demo02"\npath = "demo2.mp4"\n'))

    schema = "tools/reelset/schemas.py" if (repo / "tools/reelset/schemas.py").exists() else "tools/reelset/schemas/captions.py"
    out = {"comment in tools/step3_wan_package.py": comment("tools/step3_wan_package.py"),
           "comment in tools/reelset/report.py": comment("tools/reelset/report.py"),
           f"comment in {schema.removeprefix('tools/')}": comment(schema),
           "a second video in dataset.toml": second_video}
    if (repo / "tools/reelset/schemas/base.py").exists():
        out["comment in reelset/schemas/base.py (the harness contract)"] = comment("tools/reelset/schemas/base.py")
    return out


def eval_seconds(repo: Path) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc = sh("nix", "eval", "--impure", "--raw", "--option", "eval-cache", "false", ".#host.demo.drvPath", cwd=repo)
        times.append(time.perf_counter() - t0)
        assert proc.returncode == 0, proc.stderr
    return round(statistics.median(times), 2)


def measure(commit: str, tmp: Path) -> dict:
    repo = tmp / f"repo-{commit}"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
    subprocess.run(["git", "checkout", "-q", commit], cwd=repo, check=True)
    result = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip(),
              "eval_s": eval_seconds(repo), "edits": {}}
    base = closure(repo)
    result["derivations"] = len(base)
    result["cuda"] = len(cuda_drvs(base))
    for label, apply in edits(repo).items():
        subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, check=True)
        subprocess.run(["git", "clean", "-qfd"], cwd=repo, check=True)
        apply()
        edited = closure(repo)
        changed = {p: d for p, d in edited.items() if p not in base}
        result["edits"][label] = {"rebuild": len(changed), "cuda": len(cuda_drvs(changed)),
                                  "names": sorted(re.sub(r"^/nix/store/[a-z0-9]{32}-|\.drv$", "", p) for p in changed)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commit", action="append", default=[], help="commit to measure (repeatable; default HEAD)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/rebuild.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelset-bench-rebuild-") as tmp:
        results = [measure(c, Path(tmp)) for c in (args.commit or ["HEAD"])]
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    for r in results:
        print(f"{r['commit']}: {r['derivations']} derivations ({r['cuda']} cuda), evaluation {r['eval_s']} s")
        for label, e in r["edits"].items():
            print(f"  {label}: {e['rebuild']} rebuild, {e['cuda']} cuda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
