"""Talking to Nix from Python: the step table, ``nix`` invocations, dry-run and derivation parsing.

Used by the ``reelset`` CLI (:mod:`reelset.cli`), the docs generator (``tools/gen_docs.py``)
and tests. Not a step module: no step declares it, so it never enters a step's sources.

Works with Nix 2.8 (Debian 12's ``nix-bin``) and Nix >= 2.18: it uses only commands both
have (``nix eval``, ``nix build --dry-run``, ``nix show-derivation``, ``nix show-config``)
and enables ``nix-command flakes`` per call (``--extra-experimental-features``), so it does
not depend on the user's nix.conf for that. Every other setting (substituters, builders,
system-features) is the user's, on purpose: ``reelset status`` predicts what *their* next
``nix build`` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from reelset import ReelsetError

REPO = Path(__file__).resolve().parents[2]
"""The reelset checkout this module belongs to (holds flake.nix, nix/, tools/)."""

FLAKES = ["--extra-experimental-features", "nix-command flakes"]


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ReelsetError(f"{program}: not found on PATH; install Nix (Debian/Ubuntu: `apt-get install nix-bin`, "
                           "elsewhere https://nixos.org/download) or enter the devenv shell")
    return path


def run_nix(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nix ARGS`` with flakes enabled; return the completed process (text mode).

    ``check``: raise :class:`ReelsetError` with Nix's last stderr lines when the exit status
    is not 0. Raises ReelsetError when ``nix`` is not installed.
    """
    nix = _need("nix")
    proc = subprocess.run([nix, *FLAKES, *args], capture_output=True, text=True, cwd=cwd, env=env)
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ReelsetError(f"`nix {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
    return proc


def build_log(path: Path) -> str | None:
    """The Nix build log of the derivation that made store path ``path`` (``nix-store
    --read-log``, Nix keeps it locally also for builds on a remote builder), or None when Nix
    has none (not built by this store, logs deleted, or no Nix installed)."""
    program = shutil.which("nix-store")
    if program is None:
        return None
    proc = subprocess.run([program, "--read-log", str(path)], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def step_table(repo: Path = REPO) -> list[dict]:
    """The step table ``nix/steps.nix`` of ``repo`` as a list of dicts, in pipeline order.

    Each dict has the keys of a table entry: name, device ("cpu"|"cuda"), level
    ("video"|"dataset"), inputs, config, models, script (None: planned), sources, issue,
    plus any key a later issue adds. Read with ``nix-instantiate --eval --strict --json``.
    Raises ReelsetError naming the file when it does not evaluate.
    """
    table = repo / "nix" / "steps.nix"
    if not table.is_file():
        raise ReelsetError(f"{table}: no step table (is {repo} a reelset checkout?)")
    proc = subprocess.run([_need("nix-instantiate"), "--eval", "--strict", "--json", "-E", f"(import {table}).list"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{table}: does not evaluate (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return json.loads(proc.stdout)


@dataclass
class DryRun:
    """What ``nix build --dry-run`` says it would do: derivations to build, paths to fetch."""

    will_build: list[str] = field(default_factory=list)
    will_fetch: list[str] = field(default_factory=list)


_HEADER = re.compile(r"^(this|these) (\d+ )?(derivations?|paths?) will be (built|fetched)")


def parse_dry_run(stderr: str) -> DryRun:
    """Parse the stderr of ``nix build --dry-run`` (Nix 2.8 and >= 2.18 wording).

    Headers are "these N derivations will be built:" / "this derivation will be built:" and
    "these N paths will be fetched (… MiB download, … MiB unpacked):"; the store paths
    follow, indented, one a line. Other lines (warnings) are ignored.
    """
    result = DryRun()
    current: list[str] | None = None
    for line in stderr.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            current = result.will_build if match.group(4) == "built" else result.will_fetch
        elif current is not None and line.startswith(" ") and line.strip().startswith("/"):
            current.append(line.strip())
        elif line.strip():
            current = None
    return result


def show_derivations(drvs: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, dict]:
    """``nix show-derivation DRV…`` keyed by the .drv file's base name (Nix versions differ
    in whether keys carry the store directory). Empty input → {}."""
    if not drvs:
        return {}
    proc = run_nix(["show-derivation", *drvs], cwd=cwd, env=env)
    return {os.path.basename(k): v for k, v in json.loads(proc.stdout).items()}


def required_features(drv: dict) -> list[str]:
    """``requiredSystemFeatures`` of a shown derivation (env string or structured attrs)."""
    env = drv.get("env", {})
    if "__json" in env:
        value = json.loads(env["__json"]).get("requiredSystemFeatures", [])
        return list(value)
    return env.get("requiredSystemFeatures", "").split()


def output_paths(drv: dict) -> list[str]:
    """Output store paths of a shown derivation (base names; Nix >= 2.2x may omit the directory)."""
    return [os.path.basename(o.get("path", "")) for o in drv.get("outputs", {}).values() if o.get("path")]


def nix_settings(cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, object]:
    """The effective Nix settings (``nix show-config --json``) as {name: value}."""
    data = json.loads(run_nix(["show-config", "--json"], cwd=cwd, env=env).stdout)
    return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in data.items()}


@dataclass
class Builder:
    """One remote builder of the ``builders`` setting (machines file format)."""

    uri: str
    systems: list[str]
    features: list[str]


def parse_builders(value: str) -> list[Builder]:
    """Builders from the ``builders`` setting: entries split by ';' or newlines, fields
    ``URI SYSTEMS KEY MAXJOBS SPEED SUPPORTED-FEATURES MANDATORY-FEATURES PUBKEY`` ('-' = unset);
    ``@FILE`` reads a machines file (a missing file means no builders)."""
    builders: list[Builder] = []
    for entry in re.split(r"[;\n]", value):
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        if entry.startswith("@"):
            path = Path(entry[1:])
            if path.is_file():
                builders += parse_builders(path.read_text())
            continue
        fields = entry.split() + ["-"] * 8
        fields = [("" if f == "-" else f) for f in fields]
        features = set(fields[5].split(",")) | set(fields[6].split(","))
        builders.append(Builder(uri=fields[0], systems=[s for s in fields[1].split(",") if s],
                                features=sorted(f for f in features if f)))
    return builders
