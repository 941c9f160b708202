"""The tiny random-config Wan 2.2 T2V-A14B pipeline (nix/models.toml ``tiny-wan2.2-a14b``,
``tools/make_tiny_models.py wan22_a14b``): Wan 2.1's tiny pipeline with a second expert."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from reelset.families.wan22_a14b import BOUNDARY

# T2V-A14B's sampler shift (Wan-Video/Wan2.2 @ 42bf4cf wan/configs/wan_t2v_A14B.py sample_shift 12.0)
SAMPLE_SHIFT = 12.0


def make(out: Path) -> None:
    """Write a tiny Wan 2.2 T2V-A14B diffusers pipeline into ``out`` (about 5 MB, float32,
    deterministic), loadable by ``WanPipeline.from_pretrained``: the tiny Wan 2.1 pipeline (its
    VAE — A14B uses Wan 2.1's, 16 latent channels, 8x spatial / 4x temporal —, UMT5, tokenizer and
    ``transformer/``, made by reelset/wan_tiny.py, the wan21 family's recipe) plus ``transformer_2/``, a second
    ``WanTransformer3DModel`` of the same config with its own random weights (seed SEED + 1), the
    UniPC scheduler at shift 12.0 and ``boundary_ratio`` 0.875 in ``model_index.json``: the layout of
    ``Wan-AI/Wan2.2-T2V-A14B-Diffusers`` (high-noise expert ``transformer``, low-noise ``transformer_2``)."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    from reelset import tinykit, wan_tiny  # A14B has Wan 2.1's VAE, text encoder and transformer shape

    with tempfile.TemporaryDirectory() as tmp:
        wan_tiny.make(Path(tmp))
        base = WanPipeline.from_pretrained(tmp)
    torch.manual_seed(tinykit.SEED + 1)
    torch.set_num_threads(1)
    transformer_2 = WanTransformer3DModel.from_config(base.transformer.config)
    scheduler = UniPCMultistepScheduler.from_config(base.scheduler.config, flow_shift=SAMPLE_SHIFT)
    pipe = WanPipeline(tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae, scheduler=scheduler,
                       transformer=base.transformer, transformer_2=transformer_2, boundary_ratio=BOUNDARY)
    pipe.save_pretrained(out, safe_serialization=True)
    # the components loaded back from the temporary folder carry its path in their configs: drop it
    for config in sorted(out.glob("*/config.json")):
        data = json.loads(config.read_text())
        if data.pop("_name_or_path", None) is not None:
            config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
