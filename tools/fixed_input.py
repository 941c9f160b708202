"""Fill a reelset fixed input (source video or model directory), or say how to add it.

Two uses:

1. Builder of the fixed-output derivations of ``nix/inputs.nix`` (env ``reelsetFixedInput``,
   JSON: kind, name, hash, hashMode, and url / repo + revision + files). Nix only runs it
   when the input is not in the store yet; Nix itself checks the output hash.
   - video: downloads ``url`` when given, else fails with the exact ``nix store add-file``
     / ``nix-store --add-fixed`` commands (exit status 1);
   - model: copies ``files`` from a Python package of the interpreter when
     ``python_package`` is set and importable, else downloads them from the Hugging Face
     hub at the pinned ``revision`` (huggingface_hub; token only from env HF_TOKEN, which
     Nix passes via impureEnvVars and never stores), checks published file sha256s, else
     fails with instructions.
2. CLI: ``python tools/fixed_input.py fetch-model NAME DIR [--models FILE]`` fetches model
   NAME of ``nix/models.toml`` (with FILE, e.g. a dataset folder's models.toml, merged over
   it) into DIR (same checks) so its narHash can be pinned with ``nix hash path DIR``.

Only the standard library is needed, except huggingface_hub for hub downloads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tomllib
import urllib.request
from pathlib import Path


class FixedInputError(Exception):
    """The input cannot be provided; the message says what to run."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def missing_video_message(req: dict) -> str:
    """The error for a video fixed input that is not in the store: the commands that add it, each
    runnable in a plain shell (the ``nix store`` command with ``nix-command`` switched on for
    that call, since a fresh Nix does not enable it)."""
    name, digest = req["name"], req["hash"]
    return (f"reelset: source video '{name}' (video id {req.get('video_id')}, sha256 {digest}) is not in the Nix store.\n"
            f"Add the file once (its store path is computed from its name and hash, so keep the file name '{name}'):\n"
            f"  nix --extra-experimental-features nix-command store add-file /path/to/{name}   # Nix >= 2.4\n"
            f"  nix-store --add-fixed sha256 /path/to/{name}    # any Nix version\n"
            f"or give the video a `url` in dataset.toml.")


def fill_video(req: dict, out: Path) -> None:
    """Download the video from ``req['url']`` to ``out`` or raise with add-file instructions."""
    if not req.get("url"):
        raise FixedInputError(missing_video_message(req))
    tmp = out.with_name(out.name + ".download")
    with urllib.request.urlopen(req["url"]) as resp, tmp.open("wb") as fh:  # noqa: S310 (fixed-output: Nix checks the hash)
        shutil.copyfileobj(resp, fh)
    tmp.rename(out)


def _from_python_package(spec: str) -> Path | None:
    module, _, subdir = spec.partition("/")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / subdir


def fill_model(req: dict, out: Path) -> str:
    """Write the model's ``files`` into directory ``out``; returns where they came from.

    ``files`` are file paths of the repo; an entry ending in ``/`` (a subfolder, e.g.
    ``transformer/`` of a diffusers pipeline) or holding ``*`` is a pattern: then the whole
    selection comes from one ``huggingface_hub.snapshot_download(allow_patterns=…)``."""
    files: list[str] = req["files"]
    package_dir = _from_python_package(req["python_package"]) if req.get("python_package") else None
    out.mkdir(parents=True)
    if package_dir is not None and all((package_dir / f).is_file() for f in files):
        for f in files:
            shutil.copyfile(package_dir / f, out / f)
        source = f"python package {req['python_package']} ({package_dir})"
    else:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise FixedInputError(_model_help(req, "huggingface_hub is not installed in this interpreter")) from exc
        os.environ["HF_HUB_OFFLINE"] = "0"
        try:
            if any(f.endswith("/") or "*" in f for f in files):  # subfolders / globs (diffusers pipeline repos)
                from huggingface_hub import snapshot_download

                snapshot_download(req["repo"], revision=req["revision"],
                                  allow_patterns=[f + "*" if f.endswith("/") else f for f in files],
                                  token=os.environ.get("HF_TOKEN") or None, local_dir=str(out),
                                  cache_dir=str(out.parent / (out.name + ".hfcache")))
                shutil.rmtree(out / ".cache", ignore_errors=True)
            else:
                for f in files:
                    got = hf_hub_download(req["repo"], f, revision=req["revision"], token=os.environ.get("HF_TOKEN") or None,
                                          cache_dir=str(out.parent / (out.name + ".hfcache")))
                    (out / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(got, out / f)
        except Exception as exc:  # network, auth, missing file: all end in the same advice
            raise FixedInputError(_model_help(req, f"download from the hub failed: {exc}")) from exc
        finally:
            shutil.rmtree(out.parent / (out.name + ".hfcache"), ignore_errors=True)
        source = f"hub {req['repo']}@{req['revision']}"
    for f, expected in (req.get("fileSha256") or {}).items():
        actual = sha256_file(out / f)
        if actual != expected:
            raise FixedInputError(f"reelset: model '{req['name']}': {f} has sha256 {actual}, expected {expected} "
                                  f"(pinned in nix/models.toml); the source changed or the download is corrupt")
    return source


def _model_help(req: dict, reason: str) -> str:
    name = req["name"]
    return (f"reelset: model '{name}' ({req['repo']} @ {req['revision']}) is not in the Nix store and {reason}.\n"
            f"On a machine with access to the hub: python tools/fixed_input.py fetch-model {name} ./{name}\n"
            f"then copy ./{name} here and add it: nix-store --add-fixed --recursive sha256 ./{name}\n"
            f"(gated repos: export HF_TOKEN=...; Nix passes it to the fetcher only through impureEnvVars).")


def build() -> int:
    """Nix builder entry: fill ``$out`` from env ``reelsetFixedInput``."""
    req = json.loads(os.environ["reelsetFixedInput"])
    out = Path(os.environ["out"])
    try:
        if req["kind"] == "video":
            fill_video(req, out)
            print(f"reelset: fetched video {req['name']} from {req['url']}", file=sys.stderr)
        else:
            source = fill_model(req, out)
            print(f"reelset: model {req['name']} from {source}", file=sys.stderr)
    except FixedInputError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def cli(argv: list[str]) -> int:
    """``fetch-model NAME DIR [--models FILE]``: fetch a model of nix/models.toml (FILE merged over it) into DIR."""
    extra = None
    if len(argv) == 5 and argv[3] == "--models":
        argv, extra = argv[:3], Path(argv[4])
    if len(argv) != 3 or argv[0] != "fetch-model":
        print("usage: python tools/fixed_input.py fetch-model NAME DIR [--models dataset/models.toml]", file=sys.stderr)
        return 2
    name, dest = argv[1], Path(argv[2])
    models = tomllib.loads((Path(__file__).resolve().parents[1] / "nix" / "models.toml").read_text())
    if extra is not None:
        try:
            models |= tomllib.loads(extra.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            print(f"error: {extra}: {exc}", file=sys.stderr)
            return 2
    if name not in models:
        print(f"error: unknown model {name!r}; nix/models.toml has {sorted(models)}", file=sys.stderr)
        return 2
    m = models[name]
    if "builder" in m:
        print(f"error: model {name!r} is built, not fetched: python tools/{m['builder']} {' '.join(m.get('args', []))} --out {dest}",
              file=sys.stderr)
        return 2
    if dest.exists():
        print(f"error: {dest} exists; choose a new directory", file=sys.stderr)
        return 2
    req = {"name": name, "repo": m["repo"], "revision": m["revision"], "files": m["files"],
           "fileSha256": m.get("fileSha256", {}), "python_package": m.get("pythonPackage")}
    try:
        source = fill_model(req, dest)
    except FixedInputError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        print(exc, file=sys.stderr)
        return 1
    print(f"{dest}: {name} from {source}; pin it with: nix hash path {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(build() if "reelsetFixedInput" in os.environ else cli(sys.argv[1:]))
