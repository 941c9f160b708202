"""Is every derivation of a dataset reproducible? ``nix build --rebuild`` of each, with the files that differ.

Takes every derivation in the closure of ``.#host.datasets.<name>.all`` except fixed-output ones
(videos, pinned models: Nix checks those by hash anyway): step outputs, per-video shards,
reference frames, training segments, reports, aggregates and the tiny models built by a tool;
the toolchain's Python environment (``reelset-python-env``, ≈ 7 GB, 5-15 min to build) only
with ``--with-env``.
Builds ``all`` first (normally a no-op), then rebuilds each derivation once and compares
(``--rebuild --keep-failed``); for a mismatch, lists the files of the output that differ from
the rebuilt copy (``<out>.check``), then removes that copy.

Usage: ``.venv/bin/python bench/bench_reproducible.py [--dataset demo --dataset demo-lora] [--out bench/reproducible.json]``
Prints one line per derivation: ``identical`` or ``differs: file, file``; exit 1 if any differs.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import nix  # noqa: E402

KEPT_DIR = re.compile(r"keeping build directory '([^']+)'")


def derivations(flake: Path, dataset: str) -> list[tuple[str, dict]]:
    """(drv path, derivation) of every non-fixed-output derivation ``all`` needs."""
    installable = f"{flake}#host.datasets.{dataset}.all"
    # the derivations first, then build exactly those (an edit of the tree meanwhile changes nothing)
    paths = nix("path-info", "--impure", "--derivation", "-r", installable, cwd=flake).stdout.split()
    top = nix("eval", "--impure", "--raw", f"{installable}.drvPath", cwd=flake).stdout
    proc = nix("build", "--no-link", top, cwd=flake)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    shown = json.loads(nix("show-derivation", *[p for p in paths if p.endswith(".drv")], cwd=flake).stdout)
    return sorted(((p, d) for p, d in shown.items() if "outputHash" not in d["env"]), key=lambda pd: pd[1]["env"]["name"])


def differing(a: Path, b: Path) -> list[str]:
    """Relative paths of the files that differ between trees ``a`` and ``b`` (or exist in one only)."""
    out: list[str] = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        out.extend(prefix + n for n in cmp.left_only + cmp.right_only + cmp.funny_files)
        out.extend(prefix + n for n in cmp.common_files
                   if not filecmp.cmp(Path(cmp.left) / n, Path(cmp.right) / n, shallow=False))
        for name, sub in cmp.subdirs.items():
            walk(sub, prefix + name + "/")

    walk(filecmp.dircmp(a, b), "")
    return sorted(out)


def _rm(path: Path) -> None:
    subprocess.run(["chmod", "-R", "u+w", str(path)], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def rebuild(drv: str, out: str, flake: Path) -> dict:
    """``nix build --rebuild`` of one derivation: {"result", "seconds", "files"}."""
    t0 = time.perf_counter()
    proc = nix("build", "--rebuild", "--keep-failed", "--no-link", drv, cwd=flake)
    seconds = round(time.perf_counter() - t0, 2)
    for kept in KEPT_DIR.findall(proc.stderr):
        _rm(Path(kept))
    check = Path(out + ".check")
    if proc.returncode == 0:
        return {"result": "identical", "seconds": seconds}
    if check.exists():
        files = differing(Path(out), check)
        _rm(check)
        return {"result": "differs", "seconds": seconds, "files": files}
    return {"result": "failed", "seconds": seconds, "error": proc.stderr.strip().splitlines()[-1:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flake", type=Path, default=REPO)
    ap.add_argument("--dataset", action="append", help="dataset of pipelines/ (repeatable; default: demo, demo-lora)")
    ap.add_argument("--only", help="regular expression: rebuild only derivations whose name matches")
    ap.add_argument("--with-env", action="store_true", help="also rebuild the Python environment (slow)")
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    args = ap.parse_args()
    results: dict[str, dict] = {}
    for dataset in args.dataset or ["demo", "demo-lora"]:
        for drv, d in derivations(args.flake.resolve(), dataset):
            name = d["env"]["name"]
            if (name in results or (args.only and not re.search(args.only, name))
                    or (name == "reelset-python-env" and not args.with_env)):
                continue
            r = rebuild(drv, d["outputs"]["out"]["path"], args.flake.resolve())
            r["device"] = "cuda" if "cuda" in d["env"].get("requiredSystemFeatures", "") else "cpu"
            results[name] = r
            print(f"{name:<60} {r['device']:<5} {r['result']}"
                  + (": " + ", ".join(r.get("files") or r.get("error") or []) if r["result"] != "identical" else ""), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0 if all(r["result"] == "identical" for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
