"""The harness every step tool runs in: spec in, ``$out`` written atomically, meta.json.

Outputs are a function of the inputs (docs/architecture.md, "Reproducibility"): nothing
run-dependent — wall-clock times, hostnames, dates — goes into ``$out``. The harness times
every phase (:class:`Timer`) and writes the times to the build log only, as one line
``[reelset] timings (s): {json}`` (:func:`timings_line`, read back by :func:`parse_timings`,
e.g. by ``reelset inspect --timings`` from ``nix-store --read-log``), and its peak memory as
``[reelset] resources: {json}`` (read back by :func:`parse_resources`).

Inside a Nix build the spec comes from the env var ``reelsetSpec`` (JSON, see
:class:`reelset.schemas.base.StepSpec`) and the output path from ``out``; Nix discards the
output of a failed build. Run by hand (``python tools/<step>.py --spec spec.json --out
DIR``) the tool writes into ``DIR.partial-<pid>`` and renames it to ``DIR`` only on
success, so a failed run never leaves a partial ``DIR`` behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import BaseModel, ValidationError

from reelset import ReelsetError, device
from reelset.schemas.base import StepMeta, StepSpec


def write_json(path: Path, model: BaseModel | dict | list) -> None:
    """Write a pydantic model (validated on construction) or plain data as indented JSON."""
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def read_artifact(path: Path, schema: type[BaseModel]) -> BaseModel:
    """Load and validate an artifact; ReelsetError naming the file and the bad field."""
    try:
        return schema.model_validate(orjson.loads(path.read_bytes()))
    except FileNotFoundError as exc:
        raise ReelsetError(f"{path}: missing artifact (is this the output of the right step?)") from exc
    except orjson.JSONDecodeError as exc:
        raise ReelsetError(f"{path}: not valid JSON: {exc}") from exc
    except ValidationError as exc:
        raise ReelsetError(f"{path}: does not match schema {schema.__name__}: {exc}") from exc


def source_sha256(root: Path) -> str:
    """sha256 over every file below ``root`` (sorted relative path + NUL + bytes), caches ignored."""
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


class Timer:
    """Collects wall time per named phase (seconds) for the build log (never for ``$out``)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 3)


def log(message: str) -> None:
    """Progress line on stderr (shown in the Nix build log)."""
    print(f"[reelset] {message}", file=sys.stderr, flush=True)


TIMINGS_PREFIX = "[reelset] timings (s): "


def timings_line(timings: dict[str, float]) -> str:
    """The build-log line holding a step's phase times (seconds), e.g.
    ``[reelset] timings (s): {"detect": 0.31, "total": 3.6}``."""
    return TIMINGS_PREFIX + orjson.dumps(timings).decode()


def last_json_line(log_text: str, prefix: str) -> dict[str, float] | None:
    """The ``{name: number}`` object of the last line of ``log_text`` holding ``prefix`` followed by
    valid JSON (lines that do not parse are skipped), or None when there is none."""
    found = None
    for line in log_text.splitlines():
        at = line.find(prefix)
        if at >= 0:
            try:
                found = {str(k): float(v) for k, v in orjson.loads(line[at + len(prefix):]).items()}
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
    return found


def parse_timings(log_text: str) -> dict[str, float] | None:
    """Phase → seconds from a build log (the last :func:`timings_line` in it), or None when the
    log has none (a build from before the line existed, or one that failed)."""
    return last_json_line(log_text, TIMINGS_PREFIX)


RESOURCES_PREFIX = "[reelset] resources: "


def parse_resources(log_text: str) -> dict[str, float] | None:
    """Peak resident memory from a build log (the last ``[reelset] resources: {json}`` line that
    :func:`main` prints), e.g. ``{"peak_rss_mb": 812.4, "children_peak_rss_mb": 95.1}``: MB (MiB)
    of the step's own process and of its largest waited-for child process (ffmpeg, …), or None
    when the log has no such line (an older build, or a failed one). Linux caveat: a child's
    ``ru_maxrss`` starts at the parent's peak RSS when it was spawned (exec keeps the old
    high-water mark), so ``children_peak_rss_mb`` is max(a child's own peak, the tool's peak at
    spawn time); only a value above ``peak_rss_mb`` is certainly a child's own."""
    return last_json_line(log_text, RESOURCES_PREFIX)


def _prepare_build_env() -> None:
    """Nix builds have HOME=/homeless-shelter: point caches at the build's temp dir, keep hubs offline."""
    tmp = os.environ.get("TMPDIR") or tempfile.gettempdir()
    if not os.access(os.environ.get("HOME", "/nonexistent"), os.W_OK):
        os.environ["HOME"] = tmp
    os.environ.setdefault("XDG_CACHE_HOME", str(Path(tmp) / "cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cores = os.environ.get("NIX_BUILD_CORES", "0")
    if cores != "0":
        os.environ.setdefault("OMP_NUM_THREADS", cores)


@dataclass
class StepResult:
    """What a step function returns: its meta (tool hash and toolchain are filled in by
    :func:`main`; timings go to the build log). The step's ``index.html`` is not its business:
    a separate report derivation renders it (``tools/render_report.py``, ``reelset/reports/``)."""

    meta: StepMeta


def check_host_venv() -> None:
    """Host toolchain: the interpreter's venv must be made from the lock Nix hashed.

    Nix passes sha256(requirements.lock) as env ``reelsetLockSha256``; ``make venv`` writes
    the same into ``<venv>/reelset-lock.sha256``. A mismatch means the derivation hash
    claims an environment the interpreter does not have: ReelsetError with the fix.
    """
    expected = os.environ.get("reelsetLockSha256")
    if not expected:
        return
    marker = Path(sys.prefix) / "reelset-lock.sha256"
    actual = marker.read_text().strip() if marker.is_file() else None
    if actual != expected:
        raise ReelsetError(f"{marker}: interpreter {sys.executable} was made from "
                           f"{'an unknown lock' if actual is None else 'requirements.lock ' + actual[:12]}, "
                           f"but this build expects requirements.lock {expected[:12]}; run `make venv` (recreates .venv from "
                           f"requirements.lock) or point REELSET_PYTHON at a matching venv")


StepFn = Callable[[StepSpec, Path, Timer], StepResult]


def main(step: str | None, fn: StepFn, script: Path, argv: list[str] | None = None) -> int:
    """Entry point of a step tool: parse args/env, run ``fn(spec, out_dir, timer)``, write meta.json.

    ``fn`` writes its artifacts into ``out_dir`` and returns a StepResult (tool hash and
    toolchain are filled in here, the phase timings are logged; ``script`` is the tool's own file, whose
    folder holds exactly the step's declared sources inside a Nix build); this writes
    ``meta.json``. Exit status: 0 ok, 2 ReelsetError (message on
    stderr, no traceback), 1 unexpected error.
    """
    parser = argparse.ArgumentParser(prog=step or Path(script).name, description=(sys.modules["__main__"].__doc__ or step).strip().split("\n")[0])
    parser.add_argument("--spec", type=Path, help="JSON step spec (default: env reelsetSpec, as set by Nix)")
    parser.add_argument("--out", type=Path, help="output directory (default: env out, as set by Nix)")
    args = parser.parse_args(argv)
    in_nix = "NIX_BUILD_TOP" in os.environ and args.out is None
    try:
        raw = args.spec.read_bytes() if args.spec else os.environ.get("reelsetSpec", "").encode()
        if not raw:
            raise ReelsetError(f"{step or script.name}: no spec: pass --spec FILE or set env reelsetSpec")
        try:
            spec = StepSpec.model_validate(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ReelsetError(f"{step or script.name}: invalid step spec {args.spec or '(env reelsetSpec)'}: {exc}") from exc
        if step is not None and spec.step != step:
            raise ReelsetError(f"{step}: spec is for step {spec.step!r}")
        device.configure(spec)  # cuda steps: GPU required unless [device] allow_cpu
        out = args.out or (Path(os.environ["out"]) if "out" in os.environ else None)
        if out is None:
            raise ReelsetError(f"{spec.step}: no output: pass --out DIR or set env out")
        if in_nix:
            check_host_venv()
            _prepare_build_env()
            work = out
        else:
            if out.exists():
                raise ReelsetError(f"{out}: output already exists; remove it or choose another --out")
            work = out.with_name(f"{out.name}.partial-{os.getpid()}")
        work.mkdir(parents=True)
        try:
            timer = Timer()
            t0 = time.perf_counter()
            result = fn(spec, work, timer)
            meta = result.meta
            print(timings_line({**timer.timings, "total": round(time.perf_counter() - t0, 3)}), file=sys.stderr, flush=True)
            # peak RSS (ru_maxrss: kB on Linux) of this process and of its largest finished child
            rss = {k: round(resource.getrusage(who).ru_maxrss / 1024, 1)
                   for k, who in (("peak_rss_mb", resource.RUSAGE_SELF), ("children_peak_rss_mb", resource.RUSAGE_CHILDREN))}
            print(RESOURCES_PREFIX + orjson.dumps(rss).decode(), file=sys.stderr, flush=True)
            meta.tool_sha256 = source_sha256(script.resolve().parent)
            meta.toolchain = spec.toolchain
            device.record(meta)
            write_json(work / "meta.json", meta)
        except BaseException:
            if not in_nix:
                shutil.rmtree(work, ignore_errors=True)
            raise
        if not in_nix:
            work.rename(out)
        log(f"{spec.step}: wrote {out}")
        return 0
    except ReelsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
