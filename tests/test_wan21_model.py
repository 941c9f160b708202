"""The Wan 2.1 family module (tools/reelset/wan.py) on the tiny random Wan 2.1 pipeline of
tools/make_tiny_models.py, through the real diffusers code path (WanPipeline.from_pretrained,
AutoencoderKLWan encoder, UMT5 + T5 tokenizer, peft LoRA, save_lora_weights / load_lora_weights,
UniPC sampling), on real ffmpeg clips. CPU only, a few seconds per test."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import build_tiny_model, ffmpeg, tree_digest
from reelset import families
from reelset import wan as wan21

TEXT_TOKENS = 32  # Wan 2.1 uses 512; any positive length works


@pytest.fixture(scope="session")
def tiny_wan21(tiny_diffusion) -> Path:
    """The tiny random Wan 2.1 T2V diffusers pipeline (make_tiny_models.py wan2.1), built once per session."""
    return tiny_diffusion["wan21"]


def make_clip(path: Path, width: int = 64, height: int = 48, frames: int = 17, fps: int = 16) -> Path:
    """A packaged-style Wan clip: testsrc2 video, libx264 yuv420p, no audio."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}", "-frames:v", str(frames),
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", str(path))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("wan21-clip") / "clip.mp4")


@pytest.fixture(scope="module")
def encode_pipe(tiny_wan21):
    return wan21.load_pipeline(tiny_wan21, device="cpu", dtype=torch.float32, parts="encode")


def encode(pipe, path: Path) -> dict[str, torch.Tensor]:
    """The clip's records (encode_clip) as the flat training tensors step5 reads back."""
    records = wan21.encode_clip(pipe, path, "Caption: a woman walks through a door", audio=True,
                                max_text_tokens=TEXT_TOKENS, device="cpu", dtype=torch.float32)
    assert {kind: set(r) for kind, r in records.items()} == {
        "latents": {"latents", "fps"}, "conditions": {"prompt_embeds", "prompt_attention_mask"}}
    return wan21.training_inputs(None, records, device="cpu", dtype=torch.float32)


def test_tiny_model_loads_through_real_pipeline(tiny_wan21):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(tiny_wan21)
    assert type(pipe.text_encoder).__name__ == "UMT5EncoderModel"
    assert type(pipe.tokenizer).__name__ in ("T5Tokenizer", "T5TokenizerFast")
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler"
    assert pipe.scheduler.config.flow_shift == 3.0 and pipe.scheduler.config.use_flow_sigmas
    assert (pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal) == (8, 4)
    assert pipe.vae.config.z_dim == pipe.transformer.config.in_channels == 16
    assert pipe.text_encoder.config.d_model == pipe.transformer.config.text_dim
    assert {p.name for p in tiny_wan21.iterdir()} == {
        "model_index.json", "scheduler", "text_encoder", "tokenizer", "transformer", "vae"}
    size = sum(p.stat().st_size for p in tiny_wan21.rglob("*") if p.is_file())
    assert size < 5_000_000


def test_tiny_model_is_deterministic(tiny_wan21, tmp_path):
    assert tree_digest(build_tiny_model("wan2.1", tmp_path / "again")) == tree_digest(tiny_wan21)


def test_load_parts(tiny_wan21):
    train = wan21.load_pipeline(tiny_wan21, device="cpu", dtype=torch.float32, parts="train")
    assert train.transformer is not None and train.scheduler is not None
    assert train.vae is None and train.text_encoder is None and train.tokenizer is None
    assert wan21.latent_shapes(64, 48, 17, pipe=train, max_text_tokens=TEXT_TOKENS)["latents"]["latents"] == (16, 5, 6, 8)
    with pytest.raises(ValueError, match="parts"):
        wan21.load_pipeline(tiny_wan21, device="cpu", dtype=torch.float32, parts="everything")


def test_encode_clip_shapes_and_determinism(encode_pipe, clip):
    out = encode(encode_pipe, clip)
    # 64x48, 17 frames: 16 latent channels, (17-1)/4+1 = 5 latent frames, 48/8 x 64/8
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {"latents": (16, 5, 6, 8), "prompt_embeds": (TEXT_TOKENS, 32),
                      "prompt_attention_mask": (TEXT_TOKENS,), "fps": (), "expand_timesteps": ()}
    nested = wan21.latent_shapes(64, 48, 17, pipe=encode_pipe, max_text_tokens=TEXT_TOKENS)
    # expand_timesteps: a flag of the pipeline training_inputs adds, not a stored record
    assert {k: v for rec in nested.values() for k, v in rec.items()} == {k: v for k, v in shapes.items() if k != "expand_timesteps"}
    assert float(out["fps"]) == 16.0
    assert all(torch.isfinite(v.float()).all() for v in out.values())
    # WanPipeline zeroes the embeddings after the real tokens; the mask marks them
    n = int(out["prompt_attention_mask"].sum())
    assert 0 < n < TEXT_TOKENS and out["prompt_attention_mask"][:n].all()
    assert out["prompt_embeds"][n:].abs().sum() == 0 and out["prompt_embeds"][:n].abs().sum() > 0
    again = encode(encode_pipe, clip)
    assert all(torch.equal(out[k], again[k]) for k in out)
    # normalised with the VAE's per-channel latents_mean / latents_std (inverse of WanPipeline's decode step)
    vae = encode_pipe.vae
    x = torch.zeros(1, 3, 17, 48, 64)
    z = vae.encode(x).latent_dist.mode()
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    assert torch.allclose(wan21._normalize(vae, z) * std + mean, z, atol=1e-5)


def test_encode_clip_errors(encode_pipe, tmp_path):
    with pytest.raises(ValueError, match=r"frames16\.mp4.*4n\+1"):
        encode(encode_pipe, make_clip(tmp_path / "frames16.mp4", frames=16))
    with pytest.raises(ValueError, match=r"size40\.mp4.*multiple of 16"):
        encode(encode_pipe, make_clip(tmp_path / "size40.mp4", width=40, frames=9))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"junk\.mp4"):
        encode(encode_pipe, junk)
    with pytest.raises(ValueError, match="max_text_tokens"):
        wan21.encode_clip(encode_pipe, make_clip(tmp_path / "ok.mp4", frames=5), "x", audio=False,
                          max_text_tokens=0, device="cpu", dtype=torch.float32)


def test_sample_sigmas():
    a = wan21.sample_sigmas(4096, 120, torch.Generator().manual_seed(1))
    b = wan21.sample_sigmas(4096, 99999, torch.Generator().manual_seed(1))
    assert a.shape == (4096,) and a.dtype == torch.float32 and torch.equal(a, b)  # seq_len does not matter
    assert float(a.min()) > 0 and float(a.max()) < 1
    # shift 3: median sigma = 3 * 0.5 / (1 + 2 * 0.5) = 0.75
    assert abs(float(a.median()) - 0.75) < 0.02
    unshifted = wan21.sample_sigmas(4096, 120, torch.Generator().manual_seed(1), shift=1.0)
    assert abs(float(unshifted.median()) - 0.5) < 0.02


def test_lora_overfit_save_load_generate(tiny_wan21, encode_pipe, clip, tmp_path):
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file

    sample = encode(encode_pipe, clip)
    transformer = wan21.load_pipeline(tiny_wan21, device="cpu", dtype=torch.float32, parts="train").transformer
    transformer.requires_grad_(False)
    # alpha != rank: the scale must survive save/load (diffusers stores it only as adapter metadata)
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=8, init_lora_weights="gaussian",
                                       target_modules=wan21.DEFAULT_TARGET_MODULES))
    transformer.enable_gradient_checkpointing()
    transformer.train()
    params = [p for p in transformer.parameters() if p.requires_grad]
    assert params
    opt = torch.optim.AdamW(params, lr=1e-2)

    batch = {k: torch.stack([v, v]) for k, v in sample.items()}  # batch of 2, one fixed batch
    sigmas = wan21.sample_sigmas(2, 60, torch.Generator().manual_seed(0))
    losses = []
    for step in range(31):
        loss = wan21.training_loss(transformer, batch, sigmas, torch.Generator().manual_seed(123))
        if step == 0:
            assert loss.dtype == torch.float32 and loss.ndim == 0 and loss.requires_grad
        losses.append(loss.item())
        if step == 30:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(np.isfinite(losses)), losses
    assert losses[30] < losses[0], losses

    lora_dir = tmp_path / "lora"
    WanPipeline.save_lora_weights(lora_dir, transformer_lora_layers=get_peft_model_state_dict(transformer),
                                  transformer_lora_adapter_metadata=transformer.peft_config["default"].to_dict())
    keys = load_file(lora_dir / "pytorch_lora_weights.safetensors")
    modules = {re.sub(r"\.\d+\.", ".N.", k, count=1).rsplit(".lora_", 1)[0] for k in keys}
    assert modules == {f"transformer.blocks.N.{m}" for m in (
        "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
        "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0", "ffn.net.0.proj", "ffn.net.2")}

    pipe = wan21.load_pipeline(tiny_wan21, device="cpu", dtype=torch.float32, parts="all")
    base = wan21.generate(pipe, "a woman walks", width=64, height=48, frames=17, fps=16.0, steps=1, seed=0,
                          device="cpu", max_text_tokens=TEXT_TOKENS)
    pipe.load_lora_weights(lora_dir)
    # the loaded pipeline's transformer predicts exactly what the trained one does
    transformer.eval()
    with torch.no_grad():
        x = torch.randn(batch["latents"].shape, generator=torch.Generator().manual_seed(5))
        kw = dict(timestep=torch.tensor([700.0, 300.0]), encoder_hidden_states=batch["prompt_embeds"], return_dict=False)
        assert torch.allclose(pipe.transformer(hidden_states=x, **kw)[0], transformer(hidden_states=x, **kw)[0], atol=1e-5)
    result = wan21.generate(pipe, "a woman walks", width=64, height=48, frames=17, fps=16.0, steps=1, seed=0,
                            device="cpu", max_text_tokens=TEXT_TOKENS)
    assert result["frames"].shape == (17, 48, 64, 3) and result["frames"].dtype == np.uint8
    assert result["fps"] == 16.0 and result["audio"] is None and result["sample_rate"] is None
    assert not np.array_equal(result["frames"], base["frames"])  # the LoRA changes the output
    again = wan21.generate(pipe, "a woman walks", width=64, height=48, frames=17, fps=16.0, steps=1, seed=0,
                           device="cpu", max_text_tokens=TEXT_TOKENS)
    assert np.array_equal(result["frames"], again["frames"])
    with pytest.raises(ValueError, match="4n\\+1"):
        wan21.generate(pipe, "x", width=64, height=48, frames=16, fps=16.0, steps=1, seed=0, device="cpu")


WAN_FAMILIES = [f for f in families.every() if f.model_ref == "reelset.wan:WanModel"]


@pytest.mark.parametrize("fam", WAN_FAMILIES, ids=[f.name for f in WAN_FAMILIES])
def test_every_wan_family_gets_its_rules_from_its_checkpoint(fam, tiny_diffusion, tmp_path):
    """The Wan model code reads a checkpoint's rules from its configs (clip_rules, expand_timesteps),
    and they agree with the family's declaration (reelset/families): sizes multiples of
    rules.size_multiple, frames rules.frame_step*n+1; latents (z_dim, (F-1)/4+1, H/s, W/s); with
    expand_timesteps (Wan 2.2 TI2V) the transformer gets one timestep per latent token."""
    model = tiny_diffusion[fam.name]
    pipe = wan21.load_pipeline(model, device="cpu", dtype=torch.float32, parts="all")
    spatial, temporal, multiple = wan21.clip_rules(pipe)
    assert (multiple, temporal) == (fam.rules.size_multiple, fam.rules.frame_step)
    w, h = multiple * 3, multiple * 2
    path = make_clip(tmp_path / "clip.mp4", width=w, height=h, frames=4 * temporal + 1, fps=int(fam.rules.fps))
    records = wan21.encode_clip(pipe, path, "a door opens", audio=False, max_text_tokens=TEXT_TOKENS, device="cpu",
                                dtype=torch.float32)
    lat = records["latents"]["latents"]
    assert tuple(lat.shape) == (pipe.vae.config.z_dim, 5, h // spatial, w // spatial)
    assert wan21.latent_shapes(w, h, 4 * temporal + 1, pipe=pipe, max_text_tokens=TEXT_TOKENS)["latents"]["latents"] == tuple(lat.shape)
    with pytest.raises(ValueError, match=f"not a multiple of {multiple}"):
        wan21.check_size("x.mp4", w + multiple // 2, h, 17, size_multiple=multiple, frame_step=temporal)
    flat = wan21.training_inputs(pipe, records, device="cpu", dtype=torch.float32)
    expand = bool(pipe.config.get("expand_timesteps", False))
    assert bool(flat["expand_timesteps"]) == expand
    seen = []
    hook = pipe.transformer.register_forward_pre_hook(lambda m, a, kw: seen.append(tuple(kw["timestep"].shape)), with_kwargs=True)
    batch = {k: v.unsqueeze(0) for k, v in flat.items()}
    gen = torch.Generator().manual_seed(0)
    loss = wan21.training_loss(pipe.transformer, batch, wan21.sample_sigmas(1, 0, gen), gen)
    hook.remove()
    tokens = lat.shape[1] * (lat.shape[2] // 2) * (lat.shape[3] // 2)
    assert loss.isfinite() and seen == [(1, tokens) if expand else (1,)]
