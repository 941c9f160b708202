"""The LTX-2 family module (tools/reelset/families/ltx2/model.py) on the tiny random LTX-2 pipeline of
tools/make_tiny_models.py, through the real diffusers code path (LTX2Pipeline.from_pretrained,
VAE encoders, Gemma-3 + connectors, peft LoRA, save_lora_weights / load_lora_weights), on real
ffmpeg clips. CPU only, a few seconds per test."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import build_tiny_model, ffmpeg, tree_digest
from reelset.families.ltx2 import model as ltx2

TEXT_TOKENS = 32  # a multiple of the tiny connector's 8 learnable registers


@pytest.fixture(scope="session")
def tiny_ltx2(tiny_diffusion) -> Path:
    """The tiny random LTX-2 diffusers pipeline (make_tiny_models.py ltx2), built once per session."""
    return tiny_diffusion["ltx2"]


def make_clip(path: Path, width: int = 96, height: int = 64, frames: int = 17, fps: int = 24,
              audio: bool = True) -> Path:
    """A packaged-style clip: testsrc2 video (libx264 yuv420p) + a 440 Hz sine (AAC)."""
    seconds = f"{frames / fps:.4f}"
    # -t on both inputs (not -frames:v, which would cut the interleaved AAC stream to one packet)
    args = ["-f", "lavfi", "-t", seconds, "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    if audio:
        args += ["-f", "lavfi", "-t", seconds, "-i", "sine=frequency=440:sample_rate=44100"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac"] if audio else ["-an"]
    ffmpeg(*args, str(path))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("ltx2-clip") / "clip.mp4")


@pytest.fixture(scope="module")
def encode_pipe(tiny_ltx2):
    return ltx2.load_pipeline(tiny_ltx2, device="cpu", dtype=torch.float32, parts="encode")


def encode(pipe, path: Path, audio: bool = True) -> dict[str, dict]:
    return ltx2.encode_clip(pipe, path, "Caption: a woman walks through a door", audio=audio,
                            max_text_tokens=TEXT_TOKENS, device="cpu", dtype=torch.float32)


def test_tiny_model_loads_through_real_pipeline(tiny_ltx2):
    from diffusers import LTX2Pipeline

    pipe = LTX2Pipeline.from_pretrained(tiny_ltx2)
    assert type(pipe.text_encoder).__name__ == "Gemma3ForConditionalGeneration"
    assert type(pipe.tokenizer).__name__ == "GemmaTokenizer"
    assert (pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio) == (32, 8)
    size = sum(p.stat().st_size for p in tiny_ltx2.rglob("*") if p.is_file())
    assert size < 8_000_000


def test_tiny_model_is_deterministic(tiny_ltx2, tmp_path):
    assert tree_digest(build_tiny_model("ltx2", tmp_path / "again")) == tree_digest(tiny_ltx2)


def test_load_parts(tiny_ltx2):
    train = ltx2.load_pipeline(tiny_ltx2, device="cpu", dtype=torch.float32, parts="train")
    assert train.transformer is not None and train.scheduler is not None
    assert train.vae is None and train.text_encoder is None and train.audio_vae is None
    with pytest.raises(ValueError, match="parts"):
        ltx2.load_pipeline(tiny_ltx2, device="cpu", dtype=torch.float32, parts="everything")


def test_encode_clip_shapes_and_determinism(encode_pipe, clip):
    out = encode(encode_pipe, clip)
    # 96x64, 17 frames at 24 fps: C=8 latent channels, (17-1)/8+1 = 3 latent frames, 64/32 x 96/32;
    # audio: 0.708 s -> 11333 samples @16 kHz -> 71 mel frames -> ceil(71/4) = 18 latent steps, 16/4 mel
    shapes = {kind: {k: tuple(v.shape) for k, v in rec.items() if isinstance(v, torch.Tensor)} for kind, rec in out.items()}
    assert shapes == {
        "latents": {"latents": (8, 3, 2, 3)}, "audio_latents": {"latents": (4, 18, 4)},
        "conditions": {"video_prompt_embeds": (TEXT_TOKENS, 32), "audio_prompt_embeds": (TEXT_TOKENS, 32),
                       "prompt_attention_mask": (TEXT_TOKENS,)}}
    assert ltx2.latent_shapes(96, 64, 17, pipe=encode_pipe, fps=24.0, max_text_tokens=TEXT_TOKENS) == shapes
    # the LTX-2 trainer's scalars (process_videos.py): latent sizes, fps, audio steps / bins / seconds
    assert {k: v for k, v in out["latents"].items() if k != "latents"} == {"num_frames": 3, "height": 2, "width": 3, "fps": 24.0}
    assert {k: out["audio_latents"][k] for k in ("num_time_steps", "frequency_bins")} == {"num_time_steps": 18, "frequency_bins": 4}
    assert out["audio_latents"]["duration"] == pytest.approx(17 / 24, abs=1e-4)
    assert out["latents"]["latents"].dtype == out["conditions"]["video_prompt_embeds"].dtype == torch.bfloat16
    assert out["audio_latents"]["latents"].dtype == torch.float32
    # the tokenizer's mask (left padding), not the connector's all-ones mask
    mask = out["conditions"]["prompt_attention_mask"]
    assert mask.dtype == torch.int64 and 0 < int(mask.sum()) < TEXT_TOKENS and mask[-1] == 1 and mask[0] == 0
    tensors = [v for rec in out.values() for v in rec.values() if isinstance(v, torch.Tensor)]
    assert all(torch.isfinite(v.float()).all() for v in tensors)
    again = encode(encode_pipe, clip)
    assert all(torch.equal(out[kind][k], again[kind][k]) if isinstance(out[kind][k], torch.Tensor) else out[kind][k] == again[kind][k]
               for kind in out for k in out[kind])
    no_audio = encode(encode_pipe, clip, audio=False)
    assert "audio_latents" not in no_audio and torch.equal(no_audio["latents"]["latents"], out["latents"]["latents"])


def test_features_then_connectors_equal_the_diffusers_connectors(encode_pipe):
    """step4 stores the features before the connectors (as ltx-trainer does) and step5 runs the
    connectors: the two halves must compose to diffusers' LTX2TextConnectors.forward."""
    pipe = encode_pipe
    embeds, mask, _, _ = pipe.encode_prompt("Caption: a woman walks through a door", do_classifier_free_guidance=False,
                                            max_sequence_length=TEXT_TOKENS, device="cpu", dtype=torch.float32)
    with torch.no_grad():
        whole = pipe.connectors(embeds, mask, padding_side="left")
        video, audio = ltx2.extract_features(pipe.connectors, embeds, mask)
        halves = ltx2.apply_connectors(pipe.connectors, video, audio, mask)
    assert all(torch.equal(a, b) for a, b in zip(whole, halves, strict=True))
    assert int(halves[2].sum()) == TEXT_TOKENS  # registers fill the padding: all tokens attend


def test_encode_clip_without_audio_stream(encode_pipe, tmp_path):
    out = encode(encode_pipe, make_clip(tmp_path / "silent.mp4", width=64, height=64, frames=9, audio=False))
    assert "audio_latents" not in out and tuple(out["latents"]["latents"].shape) == (8, 2, 2, 2)


def test_encode_clip_errors(encode_pipe, clip, tmp_path):
    with pytest.raises(ValueError, match=r"frames16\.mp4.*8n\+1"):
        encode(encode_pipe, make_clip(tmp_path / "frames16.mp4", frames=16))
    with pytest.raises(ValueError, match=r"size80\.mp4.*multiple of 32"):
        encode(encode_pipe, make_clip(tmp_path / "size80.mp4", width=80, frames=9))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"junk\.mp4"):
        encode(encode_pipe, junk)
    with pytest.raises(ValueError, match="multiple of 8"):
        ltx2.encode_clip(encode_pipe, clip, "x", audio=False, max_text_tokens=30,
                         device="cpu", dtype=torch.float32)


def test_sample_sigmas():
    a = ltx2.sample_sigmas(256, 4096, torch.Generator().manual_seed(1))
    b = ltx2.sample_sigmas(256, 4096, torch.Generator().manual_seed(1))
    assert a.shape == (256,) and a.dtype == torch.float32 and torch.equal(a, b)
    assert float(a.min()) > 0 and float(a.max()) <= 1
    # larger token counts shift the mass to higher noise (ltx-trainer's shifted logit-normal)
    small = ltx2.sample_sigmas(4096, 16, torch.Generator().manual_seed(2))
    assert float(a.mean()) > float(small.mean()) - 0.05


def test_lora_overfit_save_load_generate(tiny_ltx2, encode_pipe, clip, tmp_path):
    from diffusers import LTX2Pipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    train_pipe = ltx2.load_pipeline(tiny_ltx2, device="cpu", dtype=torch.float32, parts="train")
    sample = ltx2.training_inputs(train_pipe, encode(encode_pipe, clip), device="cpu", dtype=torch.float32)
    assert set(sample) == {"latents", "fps", "prompt_embeds", "audio_prompt_embeds", "prompt_attention_mask", "audio_latents"}
    transformer = train_pipe.transformer
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=ltx2.DEFAULT_TARGET_MODULES))
    transformer.enable_gradient_checkpointing()
    transformer.train()
    params = [p for p in transformer.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)

    # video only (zero audio tokens) must work too and give a finite loss with grad
    video_only = {k: v.unsqueeze(0) for k, v in sample.items() if k != "audio_latents"}
    loss = ltx2.training_loss(transformer, video_only, torch.tensor([0.7]), torch.Generator().manual_seed(0))
    assert loss.dtype == torch.float32 and loss.ndim == 0 and loss.requires_grad and torch.isfinite(loss)

    batch = {k: torch.stack([v, v]) for k, v in sample.items()}  # batch of 2 with audio
    sigmas = ltx2.sample_sigmas(2, 18, torch.Generator().manual_seed(0))
    losses = []
    for step in range(31):
        loss = ltx2.training_loss(transformer, batch, sigmas, torch.Generator().manual_seed(123))
        losses.append(loss.item())
        if step == 30:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(np.isfinite(losses)), losses
    assert losses[30] < losses[0], losses

    lora_dir = tmp_path / "lora"
    LTX2Pipeline.save_lora_weights(lora_dir, transformer_lora_layers=get_peft_model_state_dict(transformer))
    from safetensors.torch import load_file

    keys = load_file(lora_dir / "pytorch_lora_weights.safetensors")
    modules = {re.sub(r"\.\d+\.", ".N.", k, count=1).rsplit(".lora_", 1)[0] for k in keys}
    assert "transformer.transformer_blocks.N.attn1.to_q" in modules
    assert "transformer.transformer_blocks.N.audio_to_video_attn.to_out.0" in modules

    pipe = ltx2.load_pipeline(tiny_ltx2, device="cpu", dtype=torch.float32, parts="all")
    pipe.load_lora_weights(lora_dir)
    result = ltx2.generate(pipe, "a woman walks", width=96, height=64, frames=17, fps=24.0, steps=1, seed=0,
                           device="cpu", max_text_tokens=TEXT_TOKENS)
    assert result["frames"].shape == (17, 64, 96, 3) and result["frames"].dtype == np.uint8
    assert result["fps"] == 24.0 and result["sample_rate"] == 24000
    assert result["audio"].dtype == np.float32 and result["audio"].shape[0] == 2 and result["audio"].shape[1] > 0
    again = ltx2.generate(pipe, "a woman walks", width=96, height=64, frames=17, fps=24.0, steps=1, seed=0,
                          device="cpu", max_text_tokens=TEXT_TOKENS)
    assert np.array_equal(result["frames"], again["frames"])
