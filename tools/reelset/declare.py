"""A step declared once, in Python, beside its tool (issue 40): :class:`Step`.

Each step tool holds its declaration — name, device, level, the upstream steps it reads (with
the schema the harness validates each against), its dataset.toml sections, its models, its
files, its shape (``per_video``, ``fan_out``, ``segments``) and what puts it into ``all``
(``opt_in``). ``tools/gen_docs.py`` collects the declarations (:func:`collect`) into the
generated ``nix/steps.json``, which ``nix/steps.nix`` reads; the harness
(:func:`reelset.step.main`) takes the same object, so the name the tool checks its spec against
and the inputs it validates are the ones Nix passes. A model family's steps (package,
preprocess, train) are declared by their tools' ``declare(family)`` once for every family.

Example (tools/step2_caption.py)::

    STEP = Step(name="step2-caption", device="cuda", level="video", script="step2_caption.py",
                inputs={"step1-scenes": ScenesArtifact, "step2-scene-context": SceneContextArtifact,
                        "step2-bible": BibleArtifact},
                config={"caption": CaptionConfig, "device": DeviceConfig},
                models={"vlm": Model(key="caption.model", default="qwen2.5-vl-7b-instruct")})

The Nix names of the fields (``videoKeys``, ``cpuKernels``, ``perVideo``, ``shardConfig``,
``fanOut``, ``optIn``) are documented in nix/steps.nix, which is the reader.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from reelset import ReelsetError


@dataclass(frozen=True)
class Model:
    """A model role: ``key`` is the dataset.toml key naming the model (nix/models.toml name),
    ``default`` the name without it; ``when = "<section>.<bool key>"``: loaded only when that key
    is true (else no input of the derivation); ``variant``: follow a family variant (nix/steps.nix)."""

    key: str
    default: str
    when: str | None = None
    variant: dict[str, Any] | None = None


@dataclass(frozen=True)
class File:
    """A file of the dataset folder the tool reads (spec.files.<role>): ``key`` is the dataset.toml
    key naming it, ``default`` its name; ``optional``: a missing file is left out instead of making
    the step unavailable; ``split = "<key>"``: each per-video shard gets the JSON file cut to the
    entries of ``<key>`` whose clip id names its video."""

    key: str
    default: str
    optional: bool = False
    split: str | None = None


@dataclass(frozen=True)
class FanOut:
    """One derivation per item of ``fan_out.<select>`` in ``<artifact>`` of step ``source``
    (reelset.schemas.base.FanOutItem), each running ``script``; shown as ``.<attr>.<key>``, fed
    to every derivation of the step as inputs ``<input><key>`` (nix/pipeline.nix fanOutOf)."""

    source: str
    artifact: str
    select: str
    script: str
    part: str
    attr: str
    input: str


@dataclass(frozen=True)
class Segments:
    """The step is a chain of segment derivations running ``script``, ``segment_steps`` optimizer
    steps each, configured by dataset.toml section ``section``; the step's own script gathers them.
    ``chains``: a list key of ``section`` whose names are independent chains (Wan 2.2 A14B's
    ``experts``: one LoRA per expert); each chain's segments get ``config.segment.chain`` and the
    section without that key (nix/pipeline.nix ``segmentsOf``). None: one chain.
    ``chain_steps``: a table key of ``section`` giving a chain its own ``steps`` (``expert_steps =
    { low = 3000 }``); left out of every segment's spec, so raising one chain's steps reuses the others."""

    section: str
    script: str
    chains: str | None = None
    chain_steps: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of the table (see the module docstring). ``inputs``: upstream step name → the
    schema of the artifact the harness loads and validates from it before ``run`` (``None``: the
    tool reads that input itself, e.g. per-video shards); order is the spec's. ``config``: the
    dataset.toml sections the step takes → the model validating each (the sections of
    ``reelset.schemas.dataset.DatasetConfig`` are these, :func:`reelset.schemas.dataset.step_sections`;
    Nix passes the step these sections only). ``level``: 'video'
    (one derivation per source video) or 'dataset'. Raises ReelsetError on a malformed
    declaration (a ``shard_config`` section the step does not take)."""

    name: str
    device: Literal["cpu", "cuda"]
    level: Literal["video", "dataset"]
    script: str
    inputs: Mapping[str, type[BaseModel] | None] = field(default_factory=dict)
    config: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    models: Mapping[str, Model] = field(default_factory=dict)
    files: Mapping[str, File] = field(default_factory=dict)
    video_keys: list[str] = field(default_factory=list)
    cpu_kernels: bool = False
    per_video: bool = False
    shard_config: list[str] | None = None
    fan_out: FanOut | None = None
    opt_in: str | None = None
    segments: Segments | None = None
    family: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        if self.shard_config is not None and not set(self.shard_config) <= set(self.config):
            raise ReelsetError(f"step {self.name}: shard_config {self.shard_config} must be sections of config {list(self.config)}")

    @property
    def schemas(self) -> dict[str, type[BaseModel]]:
        """The inputs the harness loads for the tool (role → schema), the others left out."""
        return {k: v for k, v in self.inputs.items() if v is not None}

    def to_nix(self) -> dict[str, Any]:
        """The entry of nix/steps.json (nix/steps.nix's names; fields left at their default omitted)."""
        out: dict[str, Any] = {"name": self.name, "device": self.device, "level": self.level, "script": self.script,
                               "inputs": list(self.inputs), "config": list(self.config),
                               "models": {r: {k: v for k, v in vars(m).items() if v is not None} for r, m in self.models.items()}}
        if self.files:
            out["files"] = {r: {k: v for k, v in vars(f).items() if v is not None and not (k == "optional" and v is False)}
                            for r, f in self.files.items()}
        for attr, key in (("video_keys", "videoKeys"), ("cpu_kernels", "cpuKernels"), ("per_video", "perVideo"),
                          ("shard_config", "shardConfig"), ("opt_in", "optIn"), ("family", "family"), ("role", "role")):
            value = getattr(self, attr)
            if value:
                out[key] = value
        if self.fan_out is not None:
            fo = vars(self.fan_out)
            out["fanOut"] = {("from" if k == "source" else k): v for k, v in fo.items()}
        if self.segments is not None:
            out["segments"] = {k: v for k, v in vars(self.segments).items() if v is not None}
        return out


def base_model(family: Any) -> Model:
    """The base model of step4/step5 of ``family``: ``model`` of ``[<f>_preprocess]``, else the
    model of its ``variant`` (``family.variants``, reelset.families.Family), else the default variant's.
    Only step4/step5 read that section: a variant switch never changes the package step."""
    n = family.name
    return Model(key=f"{n}_preprocess.model", default=family.default_model,
                 variant={"key": f"{n}_preprocess.variant", "default": family.default_variant, "family": n,
                          "models": {v.name: v.model for v in family.variants}})


def per_family(declare: Callable[[Any], Step]) -> Callable[[Any], Step]:
    """The declaration a family tool gives the harness (``main(per_family(declare), run, …)``,
    reelset.step.main): for a spec, its tool's ``declare(family)`` of the family owning the step
    the spec is for (reelset.families.of_step; ReelsetError there for a step no family owns)."""
    from reelset import families

    def of_spec(spec: Any) -> Step:
        return declare(families.of_step(spec.step))

    return of_spec


def pipeline_order(steps: list[Step]) -> list[Step]:
    """``steps`` in pipeline order: every step after its inputs (topological), ties broken by the
    stage number in the name (step1 < step2 < …), then by name. ReelsetError naming the steps of
    a cycle or an input no step declares."""
    by_name = {s.name: s for s in steps}
    for s in steps:
        missing = [i for i in s.inputs if i not in by_name]
        if missing:
            raise ReelsetError(f"step {s.name} ({s.script}): input(s) {missing} are declared by no tool; "
                               "fix `inputs` of its Step declaration")
    done: list[Step] = []
    left = dict(by_name)

    def rank(s: Step) -> tuple[str, str]:
        return (s.name.split("-", 1)[0], s.name)

    while left:
        ready = sorted((s for s in left.values() if all(i not in left for i in s.inputs)), key=rank)
        if not ready:
            raise ReelsetError(f"the step declarations form a cycle among {sorted(left)}")
        done.append(ready[0])
        del left[ready[0].name]
    return done


def collect(tools: Path) -> list[Step]:
    """Every step declared by the tools in ``tools/`` in pipeline order: the ``STEP`` of each tool
    that holds a :class:`Step`, and, for every model family (reelset.families), the steps its
    package tool, ``step4_preprocess.py`` and ``step5_train.py`` declare for it (``declare(family)``)."""
    from reelset import families

    steps: list[Step] = []
    for path in sorted(tools.glob("*.py")):
        if "STEP = Step(" not in path.read_text(encoding="utf-8"):
            continue
        module = importlib.import_module(path.stem)
        if not isinstance(getattr(module, "STEP", None), Step):
            raise ReelsetError(f"{path}: STEP is not a reelset.declare.Step")
        steps.append(module.STEP)
    for fam in families.every():
        for script in (fam.package_script, "step4_preprocess.py", "step5_train.py"):
            steps.append(importlib.import_module(script.removesuffix(".py")).declare(fam))
    return pipeline_order(steps)
