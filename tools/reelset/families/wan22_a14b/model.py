"""Wan 2.2 T2V-A14B model code: the Wan model (:class:`reelset.wan.WanModel`) with two experts.

The pipeline is ``diffusers.WanPipeline`` (0.42.1) of a ``Wan-AI/Wan2.2-T2V-A14B-Diffusers``
folder: ``transformer`` (high-noise expert), ``transformer_2`` (low-noise expert) and
``boundary_ratio`` in ``model_index.json``; ``WanPipeline.__call__`` denoises timesteps
``t >= boundary_ratio x 1000`` with ``transformer`` and the rest with ``transformer_2``. Latents,
text embeddings and the loss are Wan 2.1's (same VAE, text encoder and transformer shape, shapes
in reelset/wan.py); what differs:

- :meth:`WanA14BModel.load_pipeline` takes ``component`` ("transformer" or "transformer_2") to load
  one expert only for training (each is 14B: both would double the memory), and checks that the
  checkpoint's ``boundary_ratio`` is the family's (reelset/families/wan22_a14b);
- :meth:`WanA14BModel.sample_sigmas` draws Wan's training sigmas cut to the expert's range
  (:func:`in_range`: rejection, musubi-tuner's ``--preserve_distribution_shape``) rather than
  squeezed into it;
- :meth:`WanA14BModel.load_loras` puts each expert's LoRA on its own component
  (``load_lora_weights(dir, load_into_transformer_2=True)`` for ``transformer_2``), so samples use
  both LoRAs with the boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from reelset.families.model import WHOLE, Expert
from reelset.families.wan22_a14b import BOUNDARY, EXPERTS
from reelset.wan import PARTS, WanModel, load_pipeline, sample_sigmas

COMPONENTS = tuple(e.component for e in EXPERTS)


def in_range(draw: Callable[[], torch.Tensor], expert: Expert, *, tries: int = 1000) -> torch.Tensor:
    """Noise levels of one batch inside ``expert``'s range ``low <= sigma < high`` (high 1.0
    included): ``draw()`` returns a (B,) tensor of the family's sigmas; those outside the range are
    dropped and more batches drawn until B are kept, so the kept ones follow the family's
    distribution cut to the range — musubi-tuner's ``--min_timestep``/``--max_timestep`` with
    ``--preserve_distribution_shape``, which its Wan 2.2 guide recommends for training one expert
    (kohya-ss/musubi-tuner @ 30c658c ``training/trainer_base.py``, docs/wan.md; its two-expert
    run redraws per item the same way, ``wan_train_network.py``). The full range returns the first
    draw. ValueError when ``tries`` draws do not fill the batch."""
    first = draw()
    if expert.low <= 0.0 and expert.high >= 1.0:
        return first
    kept: list[torch.Tensor] = []
    batch = first
    for _ in range(tries):
        kept.extend(x for x in batch if expert.low <= float(x) < expert.high or (expert.high >= 1.0 and float(x) >= 1.0))
        if len(kept) >= first.shape[0]:
            return torch.stack(kept[:first.shape[0]])
        batch = draw()
    raise ValueError(f"expert {expert.name}: {tries} draws of sigmas gave fewer than {first.shape[0]} in its range "
                     f"[{expert.low}, {expert.high})")


class WanA14BModel(WanModel):
    """Wan 2.2 T2V-A14B: :class:`reelset.wan.WanModel` with its two experts (see the module docstring)."""

    def load_pipeline(self, model_dir: Path, *, device: str | torch.device, dtype: torch.dtype, parts: str,
                      component: str | None = None):
        """As :func:`reelset.wan.load_pipeline`; with ``component`` (only with ``parts="train"``) the
        other expert is not loaded (its attribute is None). ValueError for another ``parts`` or
        ``component``, or when the checkpoint's ``boundary_ratio`` (model_index.json) is not the
        family's 0.875 (the experts' training ranges assume it)."""
        if component is not None and (parts != "train" or component not in COMPONENTS):
            raise ValueError(f"load_pipeline: component must be one of {COMPONENTS} with parts='train', got "
                             f"component={component!r}, parts={parts!r} (parts: {PARTS})")
        leave_out = () if component is None else tuple(c for c in COMPONENTS if c != component)
        pipe = load_pipeline(model_dir, device=device, dtype=dtype, parts=parts, leave_out=leave_out)
        ratio = pipe.config.get("boundary_ratio")
        if ratio is None or abs(float(ratio) - BOUNDARY) > 1e-9:
            raise ValueError(f"{Path(model_dir) / 'model_index.json'}: boundary_ratio {ratio} is not Wan 2.2 T2V-A14B's "
                             f"{BOUNDARY}; is this a T2V-A14B diffusers folder (transformer + transformer_2)?")
        return pipe

    def load_for_training(self, model_dir: Path, *, device: str | torch.device, dtype: torch.dtype,
                          expert: Expert = WHOLE):
        """Only ``expert``'s transformer (:meth:`load_pipeline` with its ``component``), the other
        expert's attribute None; an expert not of this family (the full-range default) loads both."""
        component = expert.component if expert in EXPERTS else None
        return self.load_pipeline(model_dir, device=device, dtype=dtype, parts="train", component=component)

    def sample_sigmas(self, batch: int, seq_len: int, generator: torch.Generator, *,
                      expert: Expert = WHOLE) -> torch.Tensor:
        """Wan's training sigmas (:func:`reelset.wan.sample_sigmas`, shift 3.0) cut to ``expert``'s
        range (:func:`in_range`)."""
        return in_range(lambda: sample_sigmas(batch, seq_len, generator), expert)

    def load_loras(self, pipe, loras: dict[str, Path]) -> None:
        """Load each LoRA folder of ``loras`` (component -> folder with pytorch_lora_weights.safetensors,
        keys ``transformer.*`` as step5_train_segment.py saves them) into its component, as an adapter
        named after it: ``transformer_2`` through diffusers' ``load_into_transformer_2=True``. An expert
        left out keeps its base weights. ValueError for an unknown component."""
        for component, folder in loras.items():
            if component not in COMPONENTS:
                raise ValueError(f"load_loras: {component!r} is no expert component ({COMPONENTS})")
            pipe.load_lora_weights(str(folder), adapter_name=component,
                                   **({"load_into_transformer_2": True} if component == "transformer_2" else {}))
