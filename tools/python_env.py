"""The host toolchain's Python environment as store paths (nix/toolchains/host.nix).

Not a step: Nix runs it with the base interpreter (``/usr/bin/python3`` by default) as builder.

``python_env.py wheelhouse``  (fixed-output derivation ``reelset-wheelhouse``, env ``out``,
    ``reelsetLock`` = requirements.lock, ``reelsetBootstrap`` = space-separated pins of pip,
    setuptools, wheel): ``pip download --no-deps`` of every line of the lock plus the
    bootstrap pins into ``$out``. The only step that reads the network (the package index the
    machine's pip is configured for); Nix checks the result against the recorded NAR hash
    (``nix/python-env.json``), so the bytes are pinned even though the lock has no hashes.
``python_env.py env``  (plain derivation ``reelset-python-env``, env ``out``, ``reelsetLock``,
    ``reelsetWheelhouse``): ``venv --copies --without-pip`` of the base interpreter into ``$out``,
    then the wheelhouse's pip installs the lock from the wheelhouse only (``--no-index``, no
    machine pip config, ``SOURCE_DATE_EPOCH`` fixed so byte-code and the one sdist build are
    reproducible), and ``$out/reelset-lock.sha256`` records the lock (checked by every step).
``python_env.py pin [--lock requirements.lock] [--system x86_64-linux]``  (by hand, after
    editing the lock): runs the wheelhouse download into a temporary folder, and writes its
    NAR hash (``nix hash path``) and the lock's sha256 into ``nix/python-env.json``.

The scripts of the env refer to ``$out`` (its final store path), so the env is built at that
path and nowhere else; the base interpreter (``home`` in pyvenv.cfg) stays outside the store:
a builder needs the same base interpreter at the same path (docs/builders.md).
Exit status: 0 ok, 2 error (message on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIN_FILE = REPO / "nix" / "python-env.json"
# byte-code and the sdist built from the wheelhouse get this timestamp: the env is the same bytes on every build
SOURCE_DATE_EPOCH = "315532800"


class EnvError(Exception):
    pass


def lock_lines(lock: Path) -> list[str]:
    """The requirement lines of ``lock`` (``name==version``), comments and blanks dropped."""
    return [ln.split("#", 1)[0].strip() for ln in lock.read_text().splitlines() if ln.split("#", 1)[0].strip()]


def pip_command() -> list[str]:
    """A pip to download with: this interpreter's own, else one bootstrapped offline by ensurepip."""
    try:
        import pip  # noqa: F401
        return [sys.executable, "-m", "pip"]
    except ImportError:
        boot = Path(tempfile.mkdtemp(prefix="reelset-pip-"))
        venv.create(boot, with_pip=True)
        return [str(boot / "bin" / "python"), "-m", "pip"]


def download(lock: Path, bootstrap: list[str], dest: Path) -> None:
    """``pip download --no-deps`` of the lock and the bootstrap pins into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reelset-wheelhouse-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(lock_lines(lock) + bootstrap) + "\n")
        env = {**os.environ, "HOME": tmp, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        proc = subprocess.run([*pip_command(), "download", "--no-deps", "-r", str(reqs), "-d", str(dest)], env=env)
        if proc.returncode != 0:
            raise EnvError(f"pip download of {lock} failed (exit {proc.returncode}); is the package index reachable?")
    for extra in dest.iterdir():  # pip may leave nothing else, but keep only distributions
        if not extra.name.endswith((".whl", ".tar.gz", ".zip")):
            raise EnvError(f"{extra}: unexpected file in the wheelhouse")


def build_env(out: Path, lock: Path, wheelhouse: Path) -> None:
    """venv (copies, no pip) of this interpreter at ``out``, the lock installed from ``wheelhouse``."""
    pips = sorted(wheelhouse.glob("pip-*.whl"))
    if not pips:
        raise EnvError(f"{wheelhouse}: no pip wheel (the wheelhouse is made with the bootstrap pins of nix/python-env.json)")
    venv.EnvBuilder(symlinks=False, with_pip=False).create(out)
    python = out / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="reelset-env-") as tmp:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "TMPDIR": tmp,
               "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
               "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONHASHSEED": "0"}
        proc = subprocess.run([str(python), str(pips[-1] / "pip"), "install", "--no-index", "--find-links", str(wheelhouse),
                               "--no-deps", "--no-warn-script-location", "-r", str(lock)], env=env)
    if proc.returncode != 0:
        raise EnvError(f"installing {lock} from {wheelhouse} into {out} failed (exit {proc.returncode})")
    (out / "reelset-lock.sha256").write_text(hashlib.sha256(lock.read_bytes()).hexdigest() + "\n")


def pin(lock: Path, system: str) -> dict:
    """Download the wheelhouse of ``lock`` once and record its NAR hash in nix/python-env.json."""
    pins = json.loads(PIN_FILE.read_text()) if PIN_FILE.is_file() else {}
    bootstrap = pins.get("bootstrap") or ["pip==26.3", "setuptools==84.2.1"]
    with tempfile.TemporaryDirectory(prefix="reelset-pin-") as tmp:
        dest = Path(tmp) / "reelset-wheelhouse"
        download(lock, bootstrap, dest)
        proc = subprocess.run(["nix", "--extra-experimental-features", "nix-command", "hash", "path", str(dest)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise EnvError(f"nix hash path {dest}: {proc.stderr.strip()}")
        files = len(list(dest.iterdir()))
    pins["bootstrap"] = bootstrap
    pins.setdefault("wheelhouse", {})[system] = {
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest(), "narHash": proc.stdout.strip(), "files": files}
    PIN_FILE.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
    return pins


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("wheelhouse", help="(Nix) download the lock's distributions into $out")
    sub.add_parser("env", help="(Nix) build the environment into $out from the wheelhouse")
    p = sub.add_parser("pin", help="record the wheelhouse NAR hash of the lock in nix/python-env.json")
    p.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    p.add_argument("--system", default="x86_64-linux")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pin":
            print(json.dumps(pin(args.lock.resolve(), args.system), indent=2))
            return 0
        out, lock = Path(os.environ["out"]), Path(os.environ["reelsetLock"])
        if args.cmd == "wheelhouse":
            download(lock, os.environ.get("reelsetBootstrap", "").split(), out)
        else:
            build_env(out, lock, Path(os.environ["reelsetWheelhouse"]))
        return 0
    except (EnvError, KeyError) as exc:
        print(f"error: python_env.py {args.cmd}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
