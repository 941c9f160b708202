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
  (:meth:`reelset.families.model.Expert.cut`: rejection, musubi-tuner's ``--preserve_distribution_shape``) rather than
  squeezed into it;
- :meth:`WanA14BModel.load_loras` puts each expert's LoRA on its own component
  (``load_lora_weights(dir, load_into_transformer_2=True)`` for ``transformer_2``), so samples use
  both LoRAs with the boundary.
"""

from __future__ import annotations

from pathlib import Path

import torch

from reelset.families.model import WHOLE, Expert
from reelset.families.wan22_a14b import BOUNDARY, EXPERTS
from reelset.wan import PARTS, WanModel, load_pipeline

COMPONENTS = tuple(e.component for e in EXPERTS)


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
