"""Model families (LTX-2, Wan 2.1, …): what a family is, and the registry that lists them.

A family is one package ``reelset/families/<name>/``: ``__init__.py`` exports ``FAMILY``, a
frozen :class:`Family` (its name, its package step: tool, config model, frame / size / fps rules
and where they come from; its preprocess and train config models; its model code; its experts;
its variants (:class:`Variant`); its export targets; its tiny test model), ``config.py`` holds its
package section's model, ``training.py`` its ``[<name>_preprocess]`` / ``[<name>_train]`` models (apart: the
package step's sources never hold the training configs), ``model.py`` its model code — a class implementing
:class:`reelset.families.model.FamilyModel`, the one interface step4/step5 call — and ``tiny.py``
its tiny-model recipe where it has its own (Wan 2.2). A family may reuse another's model code by
reference (Wan 2.2 TI2V-5B names ``reelset.wan:WanModel``).

Variants of a family (LTX-2 / 2.3 / 2.5, Wan 2.1 14B / 1.3B) are data, not code paths: a
:class:`Variant` names the checkpoint step4/step5 load (a nix/models.toml entry, text encoder
included), the trainer's own checkpoint and text encoder, and the sources of these facts. A
dataset picks one with ``variant = "<name>"`` in ``[<name>_preprocess]`` (the family's
``default_variant`` otherwise; an explicit ``model`` there overrides the variant's checkpoint).
The package step never reads that section, so switching variant re-makes the text features and
latents (step4) and the LoRA (step5) and keeps the packaged clips: every variant shares the
family's clip rules (:class:`Family` refuses a variant whose rules differ; such a model is a
family of its own, or needs its rules passed to the package step). Everything
that used to list the families by hand reads this registry instead: nix/steps.nix (through the
generated ``nix/families.json``), dataset.toml's sections (``reelset.schemas.dataset``), the
step4/step5 tools, ``reelset export``, the reports and ``tools/make_tiny_models.py``.

The registry finds the families by listing this folder's packages (:func:`names`) and imports one
by name (:func:`get`): nothing here imports a family, and nothing outside a family imports one by
name (the steps ask the registry for the family of their step, ``reelset export`` for the family
its source was made for), so a step's source closure (nix/sources.json) holds only its own
family's files (nix/steps.nix adds them) and editing one family never rebuilds another family's
steps.

Step names and dataset.toml sections follow from the name ``<n>``: ``[<n>]`` (package step, whose
name each family gives, e.g. step3-ltx2-data), ``step4-<n>-preprocess`` / ``[<n>_preprocess]``,
``step5-<n>-train`` / ``[<n>_train]``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from reelset import ReelsetError
from reelset.families.model import WHOLE, Expert, FamilyModel


@dataclass(frozen=True)
class Rules:
    """A family's clip rules and their source (nix/families.json; the tests check the package step's
    output and the checkpoint's configs against them).

    ``frame_step``: frames are ``frame_step * n + 1`` (the VAE's causal temporal factor);
    ``size_multiple``: width and height are multiples of it (VAE spatial factor x transformer
    patch), pixels; ``fps``: the frame rate clips are resampled to, frames/s; ``source``: where
    these numbers come from (model code, trainer docs)."""

    frame_step: int
    size_multiple: int
    fps: float
    source: str


@dataclass(frozen=True)
class Variant:
    """One variant of a family (see the module docstring); nix/families.json lists them.

    ``name``: the value of ``variant`` in ``[<family>_preprocess]`` (e.g. "ltx-2.3"); ``label``:
    for people; ``model``: the nix/models.toml entry step4/step5 load (a diffusers pipeline folder:
    VAE, text encoder, transformer): it decides the text features and latents; ``text_encoder``:
    what makes the text features, for people (e.g. "Gemma 3 12B"); ``trainer_models``: the
    nix/models.toml entries the family's own trainer loads instead, by role ("checkpoint",
    "text_encoder"; empty when it loads ``model``'s repository as it is); ``rules``: the clip rules
    as this variant's sources give them (None: the family's, not checked for this variant
    separately); they must equal the family's; ``source``: where these facts come from
    (repository @ commit, file)."""

    name: str
    label: str
    model: str
    text_encoder: str
    source: str
    trainer_models: dict[str, str] = field(default_factory=dict)
    rules: Rules | None = None


@dataclass(frozen=True)
class TinyModel:
    """The family's tiny random-config test model: ``name`` in nix/models.toml, built by
    ``tools/make_tiny_models.py <kind>`` (deterministic, nothing downloaded, loaded by the real
    diffusers code). ``recipe``: the family's own writer by reference, ``"module:function"`` with
    ``function(out: Path) -> None`` (e.g. ``"reelset.families.wan22.tiny:make"``, built on
    :mod:`reelset.tinykit`); None for the kinds make_tiny_models.py writes itself (ltx2, wan2.1)."""

    name: str
    kind: str
    recipe: str | None = None
    # a package section ([<family>]) whose clips the tiny model encodes and trains on in seconds on a
    # CPU (small sizes that keep the family's rules): what the tests package with
    package: dict = field(default_factory=dict)

    def make(self, out: Path) -> None:
        """Write the tiny model into the empty folder ``out`` with :attr:`recipe`."""
        if self.recipe is None:
            raise ReelsetError(f"tiny model {self.name}: tools/make_tiny_models.py {self.kind} writes it, it has no recipe")
        _resolve(self.recipe)(out)


@dataclass(frozen=True)
class Family:
    """One model family (see the module docstring). Config fields hold pydantic model classes."""

    name: str                 # "wan22": module name, dataset.toml section prefix, step-name infix
    label: str                # "Wan 2.2 TI2V-5B": for people
    package_step: str         # "step3-wan22-package"
    package_script: str       # tool of the package step, in tools/
    rules: Rules
    # config models and the model module by reference ("module:Class", "module"), resolved on use: a
    # step's sources then hold only what its role needs (nix/families.json lists the files by role),
    # e.g. the package step never the training config's module
    package_config_ref: str     # model of [<name>]
    preprocess_config_ref: str  # model of [<name>_preprocess]
    train_config_ref: str       # model of [<name>_train]
    # the model code by reference, "module:Class", a reelset.families.model.FamilyModel subclass
    model_ref: str
    # the family's variants (:class:`Variant`) and the one step4/step5 use when [<name>_preprocess]
    # sets neither `variant` nor `model`
    variants: tuple[Variant, ...]
    default_variant: str
    tiny: TinyModel
    # `reelset export --for TARGET`: targets per source, "package" (step3) or "latents" (step4), and
    # "stills": the step3-stills targets whose image LoRA trains this family's base model
    exports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the original-format files those trainers load, named in the exports' TRAIN.md: "checkpoint"
    # (hub repository of the release checkpoint), "vae" (its VAE file)
    trainer_files: dict[str, str] = field(default_factory=dict)
    # the package step is in `all` without a [<name>] section (false: a newer family is opt-in)
    in_all: bool = True
    # the transformers it trains, each its own LoRA over its own timestep range (reelset.families.model)
    experts: tuple[Expert, ...] = (WHOLE,)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or self.default_variant not in names:
            raise ReelsetError(f"family {self.name}: variants {names} must be unique and hold default_variant "
                               f"{self.default_variant!r}")
        for v in self.variants:
            if v.rules is not None and (v.rules.frame_step, v.rules.size_multiple, v.rules.fps) != (
                    self.rules.frame_step, self.rules.size_multiple, self.rules.fps):
                raise ReelsetError(
                    f"family {self.name}: variant {v.name}'s clip rules {v.rules} differ from the family's {self.rules}: "
                    f"the package step packages by the family's rules and never sees the variant (it is chosen in "
                    f"[{self.preprocess_section}]), so such a model is a family of its own")

    def variant(self, name: str | None = None) -> Variant:
        """The variant called ``name`` (the default variant for None); ReelsetError listing the
        family's variants otherwise."""
        name = name or self.default_variant
        for v in self.variants:
            if v.name == name:
                return v
        raise ReelsetError(f"family {self.name} has no variant {name!r} (variants: "
                           f"{', '.join(v.name for v in self.variants)})")

    @property
    def default_model(self) -> str:
        """nix/models.toml name step4/step5 use when [<name>_preprocess] sets neither ``model``
        nor ``variant``: the default variant's model."""
        return self.variant().model

    @property
    def preprocess_step(self) -> str:
        return f"step4-{self.name}-preprocess"

    @property
    def train_step(self) -> str:
        return f"step5-{self.name}-train"

    @property
    def preprocess_section(self) -> str:
        return f"{self.name}_preprocess"

    @property
    def train_section(self) -> str:
        return f"{self.name}_train"

    @property
    def package_config(self) -> type:
        return _resolve(self.package_config_ref)

    @property
    def preprocess_config(self) -> type:
        return _resolve(self.preprocess_config_ref)

    @property
    def train_config(self) -> type:
        return _resolve(self.train_config_ref)

    def steps(self) -> tuple[str, str, str]:
        """(package, preprocess, train) step names."""
        return self.package_step, self.preprocess_step, self.train_step

    def role_modules(self) -> dict[str, list[str]]:
        """Dotted modules each of the family's steps loads by reference, by role ("package",
        "preprocess", "train"): the family module itself, the role's config model's module and,
        for preprocess/train, the model module (what nix/families.json gives nix/steps.nix)."""
        own = f"reelset.families.{self.name}"
        mod = lambda ref: ref.split(":")[0]  # noqa: E731
        return {"package": sorted({own, mod(self.package_config_ref)}),
                "preprocess": sorted({own, mod(self.preprocess_config_ref), mod(self.model_ref)}),
                "train": sorted({own, mod(self.train_config_ref), mod(self.model_ref)})}

    def model(self) -> FamilyModel:
        """An instance of the model code (``model_ref``); ReelsetError naming the reference when it
        is not a :class:`FamilyModel` subclass, TypeError naming the abstract methods it lacks."""
        cls = _resolve(self.model_ref)
        if not (isinstance(cls, type) and issubclass(cls, FamilyModel)):
            raise ReelsetError(f"family {self.name}: model_ref {self.model_ref!r} is not a reelset.families.model.FamilyModel subclass")
        return cls()

    def expert(self, name: str) -> Expert:
        """The expert called ``name``; ReelsetError listing the family's experts otherwise."""
        for e in self.experts:
            if e.name == name:
                return e
        raise ReelsetError(f"family {self.name} has no expert {name!r} (experts: {', '.join(e.name for e in self.experts)})")


def _resolve(ref: str):
    """``"package.module:Name"`` -> that object; ReelsetError naming the reference otherwise."""
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ReelsetError(f"model family reference {ref!r}: {exc}") from exc


def names() -> list[str]:
    """Names of the families present (the packages of this folder), sorted. Inside a step's
    narrow source only that step's family is present (and a family whose model code it reuses)."""
    return sorted(p.parent.name for p in Path(__file__).parent.glob("*/__init__.py"))


def get(name: str) -> Family:
    """The ``FAMILY`` of ``reelset/families/<name>/__init__.py``; ReelsetError listing the known families
    when there is no such module or it exports no :class:`Family`."""
    if name not in names():
        raise ReelsetError(f"unknown model family {name!r}: no tools/reelset/families/{name}/__init__.py "
                           f"(known: {', '.join(names())})")
    fam = getattr(importlib.import_module(f"reelset.families.{name}"), "FAMILY", None)
    if not isinstance(fam, Family) or fam.name != name:
        raise ReelsetError(f"tools/reelset/families/{name}/__init__.py: must export FAMILY = Family(name={name!r}, …)")
    return fam


def every() -> list[Family]:
    """Every family, by name."""
    return [get(n) for n in names()]


def for_stills(target: str) -> Family:
    """The family whose base model a ``reelset export --for TARGET`` of step3-stills trains (the
    family listing ``target`` in ``exports["stills"]``); ReelsetError naming the target otherwise."""
    for fam in every():
        if target in fam.exports.get("stills", ()):
            return fam
    raise ReelsetError(f"no model family lists the stills export target {target!r} (Family.exports['stills'] in "
                       f"tools/reelset/families/<f>/__init__.py)")


def of_step(step: str) -> Family:
    """The family whose package, preprocess or train step is ``step`` (ReelsetError otherwise)."""
    for fam in every():
        if step in fam.steps():
            return fam
    raise ReelsetError(f"{step}: not a step of a model family ({', '.join(names())})")
