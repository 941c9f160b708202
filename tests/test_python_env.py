"""The steps' store env (nix/toolchains/host.nix, tools/python_env.py) is self-contained.

- every library the interpreter, lib-dynload and the GPU packages link (NEEDED) or load by name
  (libcublas.so.12 … in their strings) resolves to a file inside the env — the check fails on a
  lock without nvidia-cublas-cu12 (CTranslate2 4.8.5 dlopens CUDA 12 cuBLAS) and is shown to fail;
- the relocated interpreter starts with nothing of the host on PATH and imports the standard
  library's C modules from its own folder;
- a step's bytes do not depend on the host's ffmpeg: the env carries the lock's static ffmpeg.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_VIDEO, PYTHON, REPO, scenes_spec

sys.path.insert(0, str(REPO / "tools"))
import python_env  # noqa: E402

pytestmark = pytest.mark.nix


def test_every_library_resolves_inside_the_env(store_env):
    missing = python_env.unresolved(store_env)
    assert not missing, missing
    site = store_env / "site-packages"
    assert (site / "nvidia" / "cublas" / "lib" / "libcublas.so.12").is_file()
    ct2 = next((site / "ctranslate2.libs").glob("libctranslate2-*.so*"))
    assert b"libcublas.so.12" in ct2.read_bytes()  # what the check looked for


def test_the_check_names_a_missing_cuda_library(store_env, tmp_path):
    """An env without nvidia-cublas-cu12 (the lock before issue 25): the check names
    libcublas.so.12 and the package that loads it, and the CLI exits 1."""
    env = tmp_path / "env"
    shutil.copytree(store_env, env, symlinks=True,
                    ignore=lambda d, names: [n for n in names if Path(d).name == "site-packages" and n != "ctranslate2.libs"])
    missing = python_env.unresolved(env)
    assert any(m.startswith("libcublas.so.12 (needed by ") and "ctranslate2.libs/libctranslate2" in m for m in missing), missing
    proc = subprocess.run([PYTHON, str(REPO / "tools" / "python_env.py"), "check", str(env)], capture_output=True, text=True)
    assert proc.returncode == 1 and "missing library libcublas.so.12" in proc.stdout, proc.stdout


def test_the_interpreter_is_its_own(store_env):
    """No PATH, no /usr in sys.path; the C modules of ssl, sqlite3, lzma, ctypes come from the env's folder
    (expat is built into Debian's interpreter; its libexpat.so.1 is the env's)."""
    code = ("import sys, json, ssl, sqlite3, lzma, ctypes, pyexpat, _ssl, _sqlite3, _lzma, _ctypes; "
            "print(json.dumps({'prefix': sys.base_prefix, 'path': sys.path, "
            "'mods': [m.__file__ for m in (_ssl, _sqlite3, _lzma, _ctypes)]}))")
    proc = subprocess.run([str(store_env / "bin" / "python"), "-I", "-c", code], capture_output=True, text=True,
                          env={"PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["prefix"] == str(store_env / "python")
    assert all(p.startswith(str(store_env)) for p in got["path"] if p), got["path"]
    assert all(f.startswith(str(store_env)) for f in got["mods"]), got["mods"]
    listed = subprocess.run([python_env.loader(), "--list", str(store_env / "python" / "bin" / "python3.11")],
                            capture_output=True, text=True).stdout
    assert f"libexpat.so.1 => {store_env}/python/" in listed, listed


def test_the_env_carries_its_own_c_library(store_env, tmp_path):
    """The interpreter starts with the env's loader (PT_INTERP) and finds the env's libc first
    (RPATH); the check reports the highest GLIBC version any file of the env needs against the
    env's own glibc, and says of an env that carries none what the host's glibc would have to
    be (Debian 12's libexpat.so.1 needs GLIBC_2.36); such an env fails the check."""
    binary = store_env / "python" / "bin" / "python3.11"
    interp = subprocess.run(["readelf", "-l", str(binary)], capture_output=True, text=True).stdout
    assert f"[Requesting program interpreter: {store_env}/python/glibc/ld-linux-x86-64.so.2]" in interp
    glibc = store_env / "python" / "glibc"
    listed = subprocess.run([str(glibc / "ld-linux-x86-64.so.2"), "--list", str(binary)], capture_output=True, text=True).stdout
    found = {m.group(1): os.path.realpath(m.group(2)) for m in re.finditer(r"(\S+) => (\S+) \(", listed)}
    assert found["libc.so.6"] == str(glibc / "libc.so.6") and found["libm.so.6"] == str(glibc / "libm.so.6"), listed
    assert found["librt.so.1"] == str(glibc / "librt.so.1"), listed  # preloaded for the wheels
    floor = python_env.glibc_floor(store_env)
    assert floor["ok"] and floor["provider"] == "python/glibc/libc.so.6", floor
    assert python_env._version_key(floor["needed"]) <= python_env._version_key(floor["provided"]), floor
    proc = subprocess.run([PYTHON, str(REPO / "tools" / "python_env.py"), "check", str(store_env)], capture_output=True, text=True)
    assert proc.returncode == 0 and f"GLIBC needed {floor['needed']} (by " in proc.stdout, proc.stdout
    assert f"provided {floor['provided']} by the env's own C library" in proc.stdout, proc.stdout
    # an env without its own C library: the check names the host glibc it would need, and fails
    bare = tmp_path / "bare"
    (bare / "python" / "lib").mkdir(parents=True)
    shutil.copy(store_env / "python" / "lib" / "libexpat.so.1", bare / "python" / "lib")
    assert python_env.glibc_floor(bare) == {"needed": "2.36", "needed_by": "python/lib/libexpat.so.1",
                                            "provided": None, "provider": None, "ok": False}
    assert python_env.glibc_line(python_env.glibc_floor(bare)).endswith(
        "the env carries no C library: the host's glibc must be >= 2.36")


def test_step_bytes_do_not_depend_on_the_hosts_ffmpeg(store_env, tmp_path):
    """step1-scenes run by the env's interpreter with PATH holding no ffmpeg gives the bytes it
    gives with the host's ffmpeg first on PATH; meta.json names the lock's static ffmpeg."""
    assert (store_env / "bin" / "ffmpeg").is_file() and (store_env / "bin" / "ffprobe").is_file()
    outs = []
    for name, path in (("host", f"/usr/bin:{os.environ.get('PATH', '')}"), ("none", "/nonexistent")):
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps(scenes_spec(DEMO_VIDEO, "demo01")))
        proc = subprocess.run([str(store_env / "bin" / "python"), str(REPO / "tools" / "step1_scenes.py"), "--spec",
                               str(spec), "--out", str(tmp_path / name)], capture_output=True, text=True,
                              env={"PATH": path, "HOME": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr
        outs.append(tmp_path / name)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file() and p.suffix in (".mp4", ".json", ".jpg"))
    assert any(f.suffix == ".mp4" for f in files)
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    meta = json.loads((outs[1] / "meta.json").read_text())
    assert meta["versions"]["ffmpeg"].startswith("ffmpeg version 6.0-static"), meta["versions"]
