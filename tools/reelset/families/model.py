"""The interface a model family's code implements (:class:`FamilyModel`), and the experts it trains
(:class:`Expert`).

step4 (latents) and step5 (LoRA training, samples) call a family's model only through this
interface: ``Family.model()`` (reelset/families/__init__.py) imports the class its declaration names
(``model_ref``, e.g. ``"reelset.families.ltx2.model:LTX2Model"``) and returns an instance, checked
to be a :class:`FamilyModel`; a class that leaves an abstract method out cannot be instantiated
(``TypeError`` naming it). The shape follows ltx-trainer's ``TrainingStrategy`` (Lightricks/LTX-2
@ 400fd31 ``packages/ltx-trainer/src/ltx_trainer/training_strategies/``: one class per strategy, one
abstract base: prepare inputs, compute the loss), extended by what reelset's steps need (load,
encode, store, sample). The method docstrings here give the contract; each family's class gives the
shapes of its tensors (reelset/families/ltx2/model.py, reelset/wan.py).

Experts: a model whose denoising is split over timesteps between separately trained transformers
(Wan 2.2 A14B: ``transformer`` above the boundary, ``transformer_2`` below) declares one
:class:`Expert` per transformer in ``Family.experts``; each is trained as its own LoRA over its own
range. A one-transformer family has the single full-range expert :data:`WHOLE`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Expert:
    """One trained transformer of a family.

    ``name``: the value in ``[<family>_train] experts`` and in file / derivation names ("high",
    "low"; "transformer" for a one-transformer family); ``component``: the pipeline attribute it
    is ("transformer", "transformer_2"); ``low``, ``high``: the part of the training timesteps it
    denoises, as fractions of ``num_train_timesteps`` (1000): timesteps t with
    ``low * 1000 <= t < high * 1000`` (the high bound included when it is 1.0); ``source``: where the
    boundary comes from (model config, trainer docs)."""

    name: str
    component: str = "transformer"
    low: float = 0.0
    high: float = 1.0
    source: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.low < self.high <= 1.0:
            raise ValueError(f"expert {self.name}: timestep range [{self.low}, {self.high}) must satisfy 0 <= low < high <= 1")

    def cut(self, draw: Callable[[], Any], *, tries: int = 1000) -> Any:
        """Noise levels of one batch inside the expert's range ``low <= sigma < high`` (high 1.0
        included): ``draw()`` returns a (B,) torch tensor of the family's sigmas; those outside the
        range are dropped and more batches drawn until B are kept, so the kept ones follow the
        family's distribution cut to the range — musubi-tuner's ``--min_timestep``/``--max_timestep``
        with ``--preserve_distribution_shape``, which its Wan 2.2 guide recommends for training one
        expert (kohya-ss/musubi-tuner @ 30c658c ``training/trainer_base.py``, docs/wan.md). The full
        range returns the first draw unchanged. ValueError when ``tries`` draws do not fill the batch."""
        first = draw()
        if self.low <= 0.0 and self.high >= 1.0:
            return first
        import torch

        kept: list[Any] = []
        batch = first
        for _ in range(tries):
            kept.extend(x for x in batch if self.low <= float(x) < self.high or (self.high >= 1.0 and float(x) >= 1.0))
            if len(kept) >= first.shape[0]:
                return torch.stack(kept[:first.shape[0]])
            batch = draw()
        raise ValueError(f"expert {self.name}: {tries} draws of sigmas gave fewer than {first.shape[0]} in its range "
                         f"[{self.low}, {self.high})")


# the one expert of a family with one transformer: every timestep
WHOLE = Expert(name="transformer", component="transformer", low=0.0, high=1.0, source="one transformer")


class FamilyModel(ABC):
    """A model family's code, as step4/step5 call it (see the module docstring).

    Class attributes: ``PIPELINE_CLASS`` (the diffusers pipeline class name the base model folder
    holds, e.g. "WanPipeline"), ``DEFAULT_TARGET_MODULES`` (LoRA target module names, peft suffix
    semantics, when ``[<family>_train] target_modules`` is unset) and ``FILE_SUFFIX`` (of the
    records step4 writes: ".pt", ".safetensors")."""

    PIPELINE_CLASS: ClassVar[str]
    DEFAULT_TARGET_MODULES: ClassVar[list[str]]
    FILE_SUFFIX: ClassVar[str]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if not getattr(cls, "__abstractmethods__", None):  # a concrete class: its constants must be set
            lacking = [n for n in ("PIPELINE_CLASS", "DEFAULT_TARGET_MODULES", "FILE_SUFFIX") if not hasattr(cls, n)]
            if lacking:
                raise TypeError(f"{cls.__module__}.{cls.__qualname__}: a FamilyModel must set {', '.join(lacking)}")

    @abstractmethod
    def load_pipeline(self, model_dir: Path, *, device: Any, dtype: Any, parts: str) -> Any:
        """The diffusers pipeline of the base model folder ``model_dir`` on ``device`` in ``dtype``,
        with the parts a step needs: ``parts`` "encode" (VAE + text encoder), "train" (transformer(s)
        + what the loss needs) or "all" (sampling). ValueError naming the folder when it is not this
        family's pipeline or ``parts`` is unknown."""

    @abstractmethod
    def encode_clip(self, pipe: Any, video_path: Path, caption: str, *, audio: bool, max_text_tokens: int,
                    device: Any, dtype: Any) -> dict[str, dict[str, Any]]:
        """The records of one packaged clip, by record folder ("latents", "conditions", …): each a
        dict of tensors (shapes in the family's module docstring). ValueError naming the file when
        its size or frame count breaks the family's rules."""

    @abstractmethod
    def save_record(self, path: Path, record: dict[str, Any]) -> None:
        """Write one record to ``path`` (suffix ``FILE_SUFFIX``), byte-reproducibly."""

    @abstractmethod
    def load_record(self, path: Path) -> dict[str, Any]:
        """Read a record written by :meth:`save_record`."""

    @abstractmethod
    def training_inputs(self, pipe: Any, records: dict[str, dict[str, Any]], *, device: Any, dtype: Any) -> dict[str, Any]:
        """One clip's records (by folder) as the batch tensors :meth:`training_loss` takes (batch 1)."""

    @abstractmethod
    def sample_sigmas(self, batch: int, seq_len: int, generator: Any, *, expert: Expert = WHOLE) -> Any:
        """``batch`` training noise levels sigma in [0, 1] (timestep = sigma x 1000), drawn with
        ``generator`` from the family's training distribution restricted to ``expert``'s range;
        ``seq_len``: latent tokens per item (for resolution-dependent shifts)."""

    @abstractmethod
    def training_loss(self, transformer: Any, batch: dict[str, Any], sigmas: Any, generator: Any) -> Any:
        """The flow-matching loss (a 0-dim tensor) of ``transformer`` on ``batch`` at ``sigmas``; the
        noise is drawn with ``generator``."""

    @abstractmethod
    def generate(self, pipe: Any, prompt: str, *, width: int, height: int, frames: int, fps: float, steps: int,
                 seed: int, device: Any) -> dict[str, Any]:
        """One text-to-video sample: ``{"frames": uint8 (F, H, W, 3), "fps": float}`` plus ``"audio"``
        (float, (channels, samples)) and ``"sample_rate"`` (Hz) for an audio-video family."""

    def load_for_training(self, model_dir: Path, *, device: Any, dtype: Any, expert: Expert = WHOLE) -> Any:
        """The pipeline step5 trains ``expert`` of (``parts="train"``): by default
        :meth:`load_pipeline` as it is; a family with several experts loads only ``expert``'s
        component (reelset/families/wan22_a14b/model.py: one 14B expert at a time)."""
        del expert
        return self.load_pipeline(model_dir, device=device, dtype=dtype, parts="train")

    def load_loras(self, pipe: Any, loras: dict[str, Path]) -> None:
        """Load the trained LoRAs into ``pipe`` for sampling: ``loras`` maps an expert's component to
        the folder of its LoRA (diffusers ``save_lora_weights`` format). A one-transformer family
        loads its one LoRA with ``pipe.load_lora_weights``; a family with several experts puts each
        on its own component (reelset/families/wan22_a14b/model.py). ValueError for a component
        this default cannot place."""
        for component, folder in loras.items():
            if component != "transformer":
                raise ValueError(f"{type(self).__name__}: no LoRA loading for component {component!r}; a family with "
                                 "several experts overrides load_loras")
            pipe.load_lora_weights(str(folder))

    def transformer(self, pipe: Any, expert: Expert = WHOLE) -> Any:
        """The transformer module ``expert`` trains (``pipe.<expert.component>``); ValueError naming
        the component when the pipeline has none."""
        module = getattr(pipe, expert.component, None)
        if module is None:
            raise ValueError(f"{type(self).__name__}: the pipeline has no {expert.component} (expert {expert.name})")
        return module
