"""The demo through a simulated ssh-ng GPU builder vs. local-only: placement, wall time, bytes.

Two fresh builds of the demo dataset (video re-muxed with a nonce in its metadata, so every
derivation really builds; bible.yaml included, so the bible steps run too):
1. local only: this machine declares the ``cuda`` feature and builds everything;
2. with one simulated builder (tests/simbuilder.py, ``cuda`` supported) and this machine
   without ``cuda``: cuda steps go to the builder, cpu steps stay here.

Reports the per-derivation placement of run 2, both wall times, the bytes the builder's
store grew by (inputs copied to it + what it built) and the NAR size of the outputs copied
back. Needs root, sshd, unshare and Nix (tests/simbuilder.apt).

``--env``: instead, the time and bytes of shipping the steps' Python environment
(``.#host.python-env``, nix/toolchains/host.nix) to a fresh builder that has no checkout, no
venv and no pyenv (hidden by tmpfs mounts): ``nix copy --to ssh-ng://…`` once.

Usage: ``.venv/bin/python bench/bench_builder.py [--env] [--out bench/builder.json]``
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

from conftest import nix_build, nix_env  # noqa: E402
from simbuilder import SimBuilder  # noqa: E402
from test_nix import pipeline_expr  # noqa: E402

BUILD_LINE = re.compile(r"building '(/nix/store/[^']+\.drv)'(?: on '([^']+)')?")


def fresh_demo(root: Path) -> Path:
    ds = root / f"demo-{uuid.uuid4().hex[:8]}"
    ds.mkdir()
    for f in ("dataset.toml", "bible.yaml"):
        shutil.copy(REPO / "pipelines/demo" / f, ds / f)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(REPO / "pipelines/demo/demo.mp4"), "-c", "copy",
                    "-metadata", f"comment={uuid.uuid4().hex}", str(ds / "demo.mp4")], check=True)
    return ds


def build(expr: str, env: dict, extra: list[str]) -> tuple[float, str, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", "--log-format", "raw", "--expr", expr, *extra],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return wall, json.loads(proc.stdout)[0]["outputs"]["out"], proc.stderr


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def ship_env() -> dict:
    """``nix copy`` of the built python env to a fresh simulated builder: seconds and bytes."""
    env_out = Path(nix_build(".#host.python-env")[0])
    nar = json.loads(subprocess.run(["nix", "path-info", "--json", str(env_out)], env=nix_env(cuda=False),
                                    capture_output=True, text=True, check=True).stdout)[0]["narSize"]
    with tempfile.TemporaryDirectory(prefix="reelset-bench-") as tmp:
        sb = SimBuilder(Path(tmp) / "sb1", name="sb1", hide=[str(REPO), str(Path.home() / ".pyenv")]).start()
        try:
            env = sb.nix_env(nix_env(cuda=False))
            before = du(sb.store_dir)
            t0 = time.perf_counter()
            subprocess.run(["nix", "copy", "--no-check-sigs", "--to", sb.uri, str(env_out)], env=env, check=True,
                           capture_output=True)
            return {"python_env": env_out.name, "ship_s": round(time.perf_counter() - t0, 1), "nar_bytes": nar,
                    "builder_store_growth_bytes": du(sb.store_dir) - before}
        finally:
            sb.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--env", action="store_true", help="measure shipping the python env to a fresh builder only")
    args = ap.parse_args()
    if args.env:
        text = json.dumps(ship_env(), indent=2)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return 0
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="reelset-bench-") as tmp:
        tmp = Path(tmp)
        local_wall, _, _ = build(pipeline_expr(fresh_demo(tmp), "all"), nix_env(cuda=True), [])
        results["local_only_wall_s"] = round(local_wall, 2)
        sb = SimBuilder(tmp / "sb1", name="sb1").start()
        try:
            env = sb.nix_env(nix_env(cuda=False))
            before = du(sb.store_dir)
            wall, _, log = build(pipeline_expr(fresh_demo(tmp), "all"), env,
                                 ["--builders", sb.machines_line(), "--option", "system-features", "benchmark big-parallel nixos-test"])
            placement: dict[str, str] = {}
            drvs: dict[str, str] = {}
            for m in BUILD_LINE.finditer(log):  # a remote build also echoes the builder's local line
                name = m.group(1).split("-", 1)[1].removesuffix(".drv")
                drvs[name] = m.group(1)
                if m.group(2) or name not in placement:
                    placement[name] = m.group(2) or "local"
            remote_outs = [subprocess.run(["nix-store", "-q", "--outputs", drvs[n]], capture_output=True, text=True,
                                          env=env, check=True).stdout.strip() for n, w in placement.items() if w != "local"]
            info = subprocess.run(["nix", "path-info", "--json", *remote_outs], capture_output=True, text=True,
                                  env=env, check=True).stdout
            back = sum(entry["narSize"] for entry in json.loads(info))
            results.update({
                "with_builder_wall_s": round(wall, 2),
                "placement": dict(sorted(placement.items())),
                "builder_store_growth_bytes": du(sb.store_dir) - before,
                "outputs_copied_back_nar_bytes": back,
            })
        finally:
            sb.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
