"""Wan 2.2 T2V-A14B (issue 41): the tiny two-expert pipeline (reelset/families/wan22_a14b/tiny.py)
through the real diffusers code path (WanPipeline with transformer_2 and boundary_ratio), each
expert loaded alone for training, expert-range sigmas, two-expert sampling with each LoRA on its
own expert. CPU only, seconds per test. The Nix runs are in tests/test_train.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import build_tiny_model, tree_digest
from reelset import families

FAM = families.get("wan22_a14b")
TEXT_TOKENS = 32


@pytest.fixture(scope="module")
def tiny(tiny_diffusion) -> Path:
    return tiny_diffusion["wan22_a14b"]


@pytest.fixture(scope="module")
def model():
    return FAM.model()


def test_tiny_two_expert_model_loads_through_wan_pipeline(tiny, tmp_path):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(tiny)
    assert pipe.config.boundary_ratio == 0.875 == FAM.experts[0].low == FAM.experts[1].high
    assert type(pipe.transformer).__name__ == type(pipe.transformer_2).__name__ == "WanTransformer3DModel"
    same = lambda c: {k: v for k, v in dict(c).items() if k != "_name_or_path"}  # noqa: E731
    assert same(pipe.transformer.config) == same(pipe.transformer_2.config)
    w1, w2 = pipe.transformer.state_dict(), pipe.transformer_2.state_dict()
    assert any(not torch.equal(w1[k], w2[k]) for k in w1)  # two experts, not one twice
    # A14B's rules are Wan 2.1's VAE: 8x spatial, 4x temporal, 16 latent channels; sampler shift 12
    assert (pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal) == (8, 4)
    assert pipe.vae.config.z_dim == pipe.transformer.config.in_channels == 16
    assert pipe.scheduler.config.flow_shift == 12.0
    assert {p.name for p in tiny.iterdir()} == {"model_index.json", "scheduler", "text_encoder", "tokenizer",
                                                "transformer", "transformer_2", "vae"}
    assert tree_digest(build_tiny_model("wan22_a14b", tmp_path / "again")) == tree_digest(tiny)


def test_each_expert_loads_alone_for_training(tiny, model, tmp_path):
    for e in FAM.experts:
        pipe = model.load_pipeline(tiny, device="cpu", dtype=torch.float32, parts="train", component=e.component)
        assert getattr(pipe, e.component) is not None
        assert all(getattr(pipe, o.component) is None for o in FAM.experts if o is not e)
        assert pipe.vae is None and pipe.text_encoder is None
    with pytest.raises(ValueError, match="component must be one of"):
        model.load_pipeline(tiny, device="cpu", dtype=torch.float32, parts="train", component="transformer_3")
    # a checkpoint whose boundary is not the family's (e.g. I2V-A14B's 0.9) is refused, naming its file
    other = tmp_path / "other"
    shutil.copytree(tiny, other)
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps(index | {"boundary_ratio": 0.9}))
    with pytest.raises(ValueError, match=r"model_index.json: boundary_ratio 0.9"):
        model.load_pipeline(other, device="cpu", dtype=torch.float32, parts="train", component="transformer")


def test_expert_sigmas_stay_in_their_range_with_wans_distribution_cut_to_it(model):
    from reelset import wan

    for e in FAM.experts:
        s = model.sample_sigmas(256, 0, torch.Generator().manual_seed(0), expert=e)
        assert s.shape == (256,) and bool(((s >= e.low) & (s < e.high)).all()), (e, s)
        # cut, not squeezed: the kept sigmas are draws of Wan's own sampler that fell in the range
        whole = wan.sample_sigmas(4096, 0, torch.Generator().manual_seed(0))
        assert set(s.tolist()) <= set(whole.tolist())
    # the full range draws once: the same numbers as the one-expert Wan model
    assert torch.equal(model.sample_sigmas(8, 0, torch.Generator().manual_seed(3)),
                       wan.sample_sigmas(8, 0, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="fewer than 2 in its range"):
        FAM.experts[0].cut(lambda: torch.full((2,), 0.5), tries=3)


def random_lora(tiny, component: str, out: Path) -> Path:
    """A LoRA with non-zero random weights on ``component`` of the tiny pipeline, saved as
    step5_train_segment.py saves one (``transformer.*`` keys, diffusers format)."""
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = WanPipeline.from_pretrained(tiny)
    transformer = getattr(pipe, component)
    torch.manual_seed(1 if component == "transformer" else 2)
    transformer.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                                       init_lora_weights=False))
    WanPipeline.save_lora_weights(save_directory=str(out), transformer_lora_layers=get_peft_model_state_dict(transformer))
    return out


def test_sampling_uses_both_experts_at_the_boundary_and_each_lora_on_its_own(tiny, model, tmp_path):
    pipe = model.load_pipeline(tiny, device="cpu", dtype=torch.float32, parts="all")
    seen: list[tuple[str, float]] = []
    for e in FAM.experts:
        getattr(pipe, e.component).register_forward_pre_hook(
            lambda m, a, kw, name=e.component: seen.append((name, float(kw["timestep"].flatten()[0]))), with_kwargs=True)

    def sample():
        return model.generate(pipe, "a woman walks", width=64, height=48, frames=9, fps=16.0, steps=4, seed=0,
                              device="cpu", guidance=False, max_text_tokens=TEXT_TOKENS)["frames"]

    base = sample()
    # UniPC at shift 12 over 4 steps: timesteps above and below 875, each to its expert
    assert {n for n, _ in seen} == {"transformer", "transformer_2"}
    assert all((t >= 875) == (n == "transformer") for n, t in seen), seen
    model.load_loras(pipe, {"transformer": random_lora(tiny, "transformer", tmp_path / "high")})
    assert set(pipe.transformer.peft_config) == {"transformer"} and not hasattr(pipe.transformer_2, "peft_config")
    high = sample()
    model.load_loras(pipe, {"transformer_2": random_lora(tiny, "transformer_2", tmp_path / "low")})
    assert set(pipe.transformer_2.peft_config) == {"transformer_2"}
    both = sample()
    assert not np.array_equal(base, high) and not np.array_equal(high, both)
    with pytest.raises(ValueError, match="no expert component"):
        model.load_loras(pipe, {"vae": tmp_path})
