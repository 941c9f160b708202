"""The harness every step tool runs in: spec in, ``$out`` written atomically, meta.json.

Outputs are a function of the inputs (docs/architecture.md, "Reproducibility"): nothing
run-dependent — wall-clock times, hostnames, dates — goes into ``$out``. The harness times
every phase (:class:`Timer`) and writes the times to the build log only, as one line
``[reelset] timings (s): {json}`` (:func:`timings_line`, read back by :func:`parse_timings`,
e.g. by ``reelset inspect --timings`` from ``nix-store --read-log``), and its peak memory as
``[reelset] resources: {json}`` (read back by :func:`parse_resources`).

A step tool declares what it reads and returns what it counted; the harness does the rest
(docs/architecture.md, "Writing a step tool"); every tool's ``run`` takes one :class:`Context`::

    STEP = Step(name="step2-speakers", …, inputs={"step2-transcript-base": TranscriptArtifact},
                config={"speakers": SpeakersConfig, "device": DeviceConfig})

    def run(ctx: Context) -> StepResult:
        transcript = ctx.inputs["step2-transcript-base"]  # loaded and validated before run is called
        cfg = ctx.config["speakers"]                       # the section, validated by its model
        ...                                                # write artifacts into ctx.out
        return StepResult(counts={"segments": 3})

    raise SystemExit(main(STEP, run, Path(__file__)))

:func:`main` checks the spec, builds the context (:func:`context`: every declared input loaded —
a missing or malformed one fails naming the file and the schema, before any work —, every
declared config section validated, the device policy), runs the step and writes ``meta.json``
(:class:`StepResult` → :class:`reelset.schemas.base.StepMeta`).

Inside a Nix build the spec comes from the env var ``reelsetSpec`` (JSON, see
:class:`reelset.schemas.base.StepSpec`) and the output path from ``out``; Nix discards the
output of a failed build. Run by hand (``python tools/<step>.py --spec spec.json --out
DIR``) the tool writes into ``DIR.partial-<pid>`` and renames it to ``DIR`` only on
success, so a failed run never leaves a partial ``DIR`` behind (:func:`atomic_output`, also
used by ``tools/render_report.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pydantic import BaseModel, ValidationError

from reelset import ReelsetError
from reelset.declare import Step
from reelset.device import DevicePolicy
from reelset.log import RESOURCES_PREFIX, Timer, log, timings_line
from reelset.schemas.base import ModelRef, StepMeta, StepSpec


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
    """What a step function returns: what it counted and with what. :func:`main` makes the
    step's meta.json of it (:meth:`meta`); timings go to the build log. The step's
    ``index.html`` is not its business: a separate report derivation renders it
    (``tools/render_report.py``, ``reelset/reports/``)."""

    counts: dict[str, int] = field(default_factory=dict)  # what was made, e.g. {"scenes": 12}
    versions: dict[str, str] = field(default_factory=dict)  # libraries and programs used, e.g. {"ffmpeg": "7.1"}
    device: str = "cpu"  # device actually used: "cpu" or "cuda:N"
    models: list[ModelRef] = field(default_factory=list)  # models used (from spec.models)

    def meta(self, spec: StepSpec, tool_sha256: str = "") -> StepMeta:
        """The meta.json of this result for ``spec``: step, dataset and shard (``spec.video_id``)
        from the spec, toolchain too; ``tool_sha256`` is empty until :func:`main` knows it (a
        page rendered inside the step, ``tools/aggregate_report.py``, shows none)."""
        return StepMeta(step=spec.step, dataset=spec.dataset, shard=spec.video_id, tool_sha256=tool_sha256,
                        toolchain=spec.toolchain, device=self.device, models=self.models, counts=self.counts,
                        versions=self.versions)


Inputs = dict[str, BaseModel]
"""The validated artifacts of a tool's ``INPUTS``, by input role: ``inputs["step2-bible"]`` is a
BibleArtifact. The folder of each is ``Path(spec.inputs[role])``."""


def load_inputs(spec: StepSpec, declared: Mapping[str, type[BaseModel]]) -> Inputs:
    """Load and validate the artifact of every input role a tool declares (its ``INPUTS``): file
    ``<spec.inputs[role]>/<schema.FILE>`` (e.g. ``step1-scenes`` → ``…/scenes.json``, a
    ScenesArtifact). ReelsetError naming the step and the role when the spec lacks one, or
    naming the file and the schema (:func:`read_artifact`) when it is missing or malformed."""
    missing = [role for role in declared if role not in spec.inputs]
    if missing:
        raise ReelsetError(f"{spec.step}: spec has no inputs.{', inputs.'.join(missing)} (folders holding "
                           f"{', '.join(declared[r].FILE for r in missing)})")
    return {role: read_artifact(Path(spec.inputs[role]) / schema.FILE, schema) for role, schema in declared.items()}


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


@dataclass
class Context:
    """What the harness hands a step tool's ``run`` (one signature for every tool, issue 40):
    the spec, the folder to write into (``out``: ``$out``, or ``DIR.partial-<pid>`` by hand), the
    phase :class:`Timer`, the validated inputs by role (:func:`load_inputs`; the folder of each is
    ``Path(spec.inputs[role])``), the validated dataset.toml sections by name (the declaration's
    ``config``: ``config["asr"]`` is an AsrConfig) and the device policy
    (:class:`reelset.device.DevicePolicy`, to pass to the model loaders)."""

    spec: StepSpec
    out: Path
    timer: Timer
    policy: DevicePolicy
    inputs: Inputs = field(default_factory=dict)
    config: dict[str, BaseModel] = field(default_factory=dict)


StepFn = Callable[[Context], StepResult]
"""``run(ctx)`` → StepResult."""

Declaration = Step | Callable[[StepSpec], Step] | str | None
"""What :func:`main` is told about the step: its :class:`reelset.declare.Step`; a function of the
spec giving it (a family's tool serves one step per family: ``declare(families.of_step(spec.step))``);
a step name; or None (a tool whose steps have no declaration: the aggregates, training segments)."""


def context(spec: StepSpec, out: Path, step: Step | None = None, inputs: Mapping[str, type[BaseModel]] | None = None,
            policy: DevicePolicy | None = None) -> Context:
    """The :class:`Context` of ``spec`` writing into ``out``, as :func:`main` builds it (and tests
    that call a tool's ``run`` directly): the inputs with a schema of ``step`` (else ``inputs``)
    loaded (:func:`load_inputs`), the sections of ``step.config`` validated
    (:meth:`reelset.schemas.base.StepSpec.section`: ReelsetError "dataset.toml [x] key: …"), the
    device policy of the spec (:meth:`reelset.device.DevicePolicy.from_spec`) unless ``policy``
    is given, and a fresh :class:`Timer`."""
    declared = (step.schemas or inputs) if step is not None else inputs
    return Context(spec=spec, out=out, timer=Timer(),
                   policy=policy if policy is not None else DevicePolicy.from_spec(spec),
                   inputs=load_inputs(spec, declared) if declared else {},
                   config={name: spec.section(name, model) for name, model in step.config.items()} if step is not None else {})


@dataclass
class Invocation:
    """How a tool was started: its spec (``--spec FILE`` or env ``reelsetSpec``), its output
    folder (``--out DIR`` or env ``out``) and whether it runs inside a Nix build."""

    spec: StepSpec
    out: Path
    in_nix: bool


def invocation(prog: str, description: str, argv: list[str] | None) -> Invocation:
    """Parse a tool's command line (``--spec``, ``--out``) and its spec. ReelsetError when the
    spec is missing or invalid (naming ``prog`` and where the spec came from) or no output is
    given. Inside Nix: ``out`` from the environment and ``NIX_BUILD_TOP`` set."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--spec", type=Path, help="JSON step spec (default: env reelsetSpec, as set by Nix)")
    parser.add_argument("--out", type=Path, help="output directory (default: env out, as set by Nix)")
    args = parser.parse_args(argv)
    raw = args.spec.read_bytes() if args.spec else os.environ.get("reelsetSpec", "").encode()
    if not raw:
        raise ReelsetError(f"{prog}: no spec: pass --spec FILE or set env reelsetSpec")
    try:
        spec = StepSpec.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ReelsetError(f"{prog}: invalid step spec {args.spec or '(env reelsetSpec)'}: {exc}") from exc
    out = args.out or (Path(os.environ["out"]) if "out" in os.environ else None)
    if out is None:
        raise ReelsetError(f"{prog}: no output: pass --out DIR or set env out")
    return Invocation(spec, out, in_nix="NIX_BUILD_TOP" in os.environ and args.out is None)


@contextmanager
def atomic_output(out: Path, in_nix: bool) -> Iterator[Path]:
    """The folder to write output ``out`` into, all or nothing. Inside a Nix build: ``out``
    itself (Nix discards the output of a failed build). By hand: ``out.partial-<pid>``, renamed
    to ``out`` when the block succeeds and removed when it raises; ReelsetError when ``out``
    already exists."""
    if in_nix:
        out.mkdir(parents=True)
        yield out
        return
    if out.exists():
        raise ReelsetError(f"{out}: output already exists; remove it or choose another --out")
    work = out.with_name(f"{out.name}.partial-{os.getpid()}")
    work.mkdir(parents=True)
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    work.rename(out)


def main(step: Declaration, fn: StepFn, script: Path, inputs: Mapping[str, type[BaseModel]] | None = None,
         argv: list[str] | None = None) -> int:
    """Entry point of a step tool: parse args/env, build the :class:`Context`, run ``fn(ctx)``,
    write meta.json.

    ``step`` is the tool's declaration (:data:`Declaration`; with a :class:`reelset.declare.Step`
    the spec must be for its name, its inputs with a schema are loaded and validated and its
    config sections validated — the same declaration Nix reads through nix/steps.json).
    ``inputs`` (input role → schema, :func:`load_inputs`) is for tools without a declaration. The
    context (:func:`context`) holds the device policy built from the spec
    (:meth:`reelset.device.DevicePolicy.from_spec`: a cuda step without ``[device] allow_cpu``
    fails on a machine without a GPU). ``fn`` writes its artifacts into ``ctx.out`` and returns a
    StepResult; this writes ``meta.json`` (:meth:`StepResult.meta`, plus the hash of the tool's
    folder — ``script`` is the tool's own file, whose folder holds exactly the step's declared
    sources inside a Nix build — and the device facts, :meth:`reelset.device.DevicePolicy.record`) and logs
    the phase timings. Exit status: 0 ok, 2 ReelsetError (message on stderr, no traceback),
    1 unexpected error.
    """
    name = step.name if isinstance(step, Step) else step if isinstance(step, str) else None
    try:
        prog = name or Path(script).name
        call = invocation(prog, (sys.modules["__main__"].__doc__ or prog).strip().split("\n")[0], argv)
        spec = call.spec
        if name is not None and spec.step != name:
            raise ReelsetError(f"{name}: spec is for step {spec.step!r}")
        decl = step if isinstance(step, Step) else step(spec) if callable(step) else None
        if decl is not None and decl.name != spec.step:
            raise ReelsetError(f"{decl.name}: spec is for step {spec.step!r}")
        if call.in_nix:
            check_host_venv()
            _prepare_build_env()
        ready = context(spec, call.out, decl, inputs)  # inputs, config sections, device policy: before any work
        with atomic_output(call.out, call.in_nix) as work:
            ctx = dataclasses.replace(ready, out=work)
            timer = ctx.timer
            t0 = time.perf_counter()
            result = fn(ctx)
            print(timings_line({**timer.timings, "total": round(time.perf_counter() - t0, 3)}), file=sys.stderr, flush=True)
            # peak RSS (ru_maxrss: kB on Linux) of this process and of its largest finished child
            rss = {k: round(resource.getrusage(who).ru_maxrss / 1024, 1)
                   for k, who in (("peak_rss_mb", resource.RUSAGE_SELF), ("children_peak_rss_mb", resource.RUSAGE_CHILDREN))}
            print(RESOURCES_PREFIX + orjson.dumps(rss).decode(), file=sys.stderr, flush=True)
            meta = result.meta(spec, source_sha256(script.resolve().parent))
            ctx.policy.record(meta)
            write_json(work / "meta.json", meta)
        log(f"{spec.step}: wrote {call.out}")
        return 0
    except ReelsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
