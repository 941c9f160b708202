"""One GPU per cuda step: a lock per GPU on the builder, taken before any CUDA library loads.

A builder runs up to ``maxJobs`` derivations at once; every cuda step would otherwise take the
current device, GPU 0 — four shards of a 7B VLM on one card run out of memory while three cards
idle. So the GPU's slot is chosen outside the tool: mkStep (nix/mkStep.nix) starts every cuda
step as ``python gpu_slots.py <tool script> [args]``; this takes a free slot, sets
``CUDA_VISIBLE_DEVICES`` to its GPU index (the tool's torch / CTranslate2 then see that GPU
alone, as ``cuda:0``) and runs the tool in the same process (:func:`runpy.run_path`), holding the
slot until the process exits — a crash or a kill frees it too, since the kernel drops an
``flock`` with its last open file.

The slots: the directory ``$REELSET_GPU_LOCKS`` if set (tests, runs by hand), else
:data:`DEFAULT_LOCKS`, ``/run/reelset/gpu-locks`` — created by the builder's configuration
(``reelset.builder.gpus`` of builders/gpu-builder.nix; elsewhere ``mkdir -m 1777``). It holds one
file per GPU, named by its CUDA index (``0``, ``1``, …); an empty directory is filled from the
GPU device nodes (``/dev/nvidia0``, …). No directory: no locking (a laptop, a CI machine, a
builder that runs one job at a time), and the tool starts at once. A step that finds every slot
taken logs one line and waits, polling every :data:`POLL_S` seconds, so a GPU is idle for at most
that long while a step waits for it. Host-toolchain steps run unsandboxed (``__noChroot``) and
see the directory; sandboxed steps need it in ``extra-sandbox-paths`` (the module adds it).

Standard library only, run as a script: it is the one file mkStep adds to every cuda step's
sources, and nothing else depends on it. Locks: ``flock(2)`` (Linux man-pages, "flock"): the
lock belongs to the open file description, so opening read-only suffices and build users
other than the file's owner can lock it.
"""

from __future__ import annotations

import fcntl
import os
import re
import runpy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOCKS_ENV = "REELSET_GPU_LOCKS"
DEFAULT_LOCKS = Path("/run/reelset/gpu-locks")
POLL_S = 0.25  # seconds between tries while every slot is taken
WAIT_LOG_S = 300  # seconds between repeated "still waiting" lines


@dataclass
class Slot:
    """A held GPU slot: its CUDA index (the lock file's name), the lock file and its open
    descriptor (closing it, or the process ending, frees the slot) and the seconds waited."""

    index: str
    path: Path
    fd: int
    waited_s: float


def lock_dir() -> Path | None:
    """The slot directory: ``$REELSET_GPU_LOCKS`` when set (an error when that is no
    directory), else :data:`DEFAULT_LOCKS` when it exists, else None (no locking).
    RuntimeError naming the variable and the path when it is set but no directory."""
    given = os.environ.get(LOCKS_ENV)
    if given:
        if not Path(given).is_dir():
            raise RuntimeError(f"{LOCKS_ENV}={given}: not a directory; create it with one file per GPU "
                               f"(0, 1, …) or unset the variable")
        return Path(given)
    return DEFAULT_LOCKS if DEFAULT_LOCKS.is_dir() else None


def slot_files(d: Path, dev: Path = Path("/dev")) -> list[Path]:
    """The slot files of ``d`` (names that are CUDA indices, sorted numerically); where the
    box has GPU device nodes (``/dev/nvidia<N>``), only slots with a node (a configuration that
    names more GPUs than the box has never hands out a missing one). An empty ``d`` is filled
    with one file per node (mode 0666, so every build user can open it). RuntimeError naming
    ``d`` when no slot remains."""
    nodes = sorted(int(m.group(1)) for p in dev.glob("nvidia*") if (m := re.fullmatch(r"nvidia(\d+)", p.name)))
    files = sorted((p for p in d.iterdir() if p.name.isdigit() and (not nodes or int(p.name) in nodes)),
                   key=lambda p: int(p.name))
    if files:
        return files
    for n in nodes:
        fd = os.open(d / str(n), os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            os.fchmod(fd, 0o666)
        except PermissionError:  # made by another build user a moment ago
            pass
        os.close(fd)
    if not nodes:
        raise RuntimeError(f"{d}: no GPU slot (no file named 0, 1, … of a {dev}/nvidia<N> device); "
                           f"create one file per GPU there, or remove the directory to run without GPU locks")
    return [d / str(n) for n in nodes]


def _try(path: Path) -> int | None:
    """An open descriptor holding ``path``'s exclusive lock, or None when another holds it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def acquire(d: Path, who: str, log=None, poll_s: float = POLL_S) -> Slot:
    """Take a free slot of ``d`` (the lowest free index), waiting while all are taken, and set
    ``CUDA_VISIBLE_DEVICES`` to its index. ``who`` names the waiter in the log lines (``log``:
    a function of one string, default a ``[reelset]`` line on stderr): one line when it starts
    to wait (and every :data:`WAIT_LOG_S` s), one when it got the slot after waiting. Errors
    of :func:`slot_files`; OSError when a slot file cannot be opened (names the file)."""
    log = log or (lambda line: print(f"[reelset] {line}", file=sys.stderr, flush=True))
    files = slot_files(d)
    t0 = time.monotonic()
    told = None
    while True:
        for path in files:
            fd = _try(path)
            if fd is not None:
                waited = round(time.monotonic() - t0, 3)
                os.environ["CUDA_VISIBLE_DEVICES"] = path.name
                if told is not None:
                    log(f"{who}: got GPU {path.name} after waiting {waited:.1f} s")
                return Slot(path.name, path, fd, waited)
        now = time.monotonic()
        if told is None or now - told >= WAIT_LOG_S:
            log(f"{who}: waiting for a GPU: all {len(files)} slots of {d} are taken by other steps "
                f"(more jobs than GPUs: set maxJobs to the GPU count, docs/builders.md)")
            told = now
        time.sleep(poll_s)


def main(argv: list[str]) -> None:
    """``gpu_slots.py SCRIPT [ARGS…]``: hold a GPU slot (when the builder has slot locks), then
    run SCRIPT as ``__main__`` with ``sys.argv = [SCRIPT, *ARGS]`` and its folder first on
    ``sys.path``, as ``python SCRIPT`` would. Exit status 2 with the reason on a slot error."""
    if not argv:
        raise SystemExit("usage: gpu_slots.py SCRIPT [ARGS…]")
    script = argv[0]
    try:
        d = lock_dir()
        slot = acquire(d, Path(script).stem) if d is not None else None
    except (OSError, RuntimeError) as exc:
        print(f"error: gpu slots: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if slot is not None:
        print(f"[reelset] GPU slot {slot.index} of {d} (CUDA_VISIBLE_DEVICES={slot.index})", file=sys.stderr, flush=True)
    sys.argv = [script, *argv[1:]]
    sys.path[0] = str(Path(script).resolve().parent)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
