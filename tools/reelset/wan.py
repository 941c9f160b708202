"""Wan model code shared by the Wan families (Wan 2.1 T2V, reelset/families/wan21/; Wan 2.2 TI2V-5B,
reelset/families/wan22/; both name :class:`WanModel` as their ``model_ref``):
load the diffusers pipeline, turn a packaged clip into training tensors, the flow-matching
training loss, and text-to-video sampling.

The clip rules come from the checkpoint's own configs, as ``WanPipeline.__call__`` takes them
(:func:`clip_rules`): frames ``vae.config.scale_factor_temporal`` * n + 1, width and height
multiples of ``vae.config.scale_factor_spatial`` x ``transformer.config.patch_size`` (Wan 2.1:
4n+1 and 8 x 2 = 16; Wan 2.2 TI2V-5B: 4n+1 and 16 x 2 = 32, its VAE patchifies 2x2 pixels
first and has 48 latent channels), and the per-token timesteps of ``expand_timesteps``
(Wan 2.2 TI2V) from ``model_index.json``. The numbers below are Wan 2.1's.

Used by step4 preprocessing for Wan 2.1 (``encode_clip``, ``save_record``), step5-wan21-train
(``load_pipeline(parts="train")``, ``load_record``, ``training_inputs``, ``sample_sigmas``,
``training_loss``, LoRA targets) and the
preview renders (``generate``). Every model is a local diffusers directory in the layout of the
hub's ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers`` / ``-14B-Diffusers`` (``model_index.json``,
``transformer/`` (``WanTransformer3DModel``), ``vae/`` (``AutoencoderKLWan``), ``text_encoder/``
(``UMT5EncoderModel``), ``tokenizer/`` (``T5TokenizerFast``), ``scheduler/``
(``UniPCMultistepScheduler``, flow sigmas, ``flow_shift`` 3.0)), loaded through the real
``diffusers.WanPipeline`` code path (diffusers 0.42.1); tests use the tiny random one of
``tools/make_tiny_models.py wan2.1``.

Shapes (no batch dimension; C = ``vae.config.z_dim`` (16 in Wan 2.1 and in the tiny model),
D = ``text_encoder.config.d_model`` = ``transformer.config.text_dim`` (4096 for umt5-xxl; tiny
32), L = ``max_text_tokens`` (Wan 2.1 uses 512)):

=========================  =========================  ==========================================
folder: key                shape                      meaning
=========================  =========================  ==========================================
latents/ ``latents``       (C, (F-1)/4+1, H/8, W/8)   video latent, posterior mode, normalised
                                                      ``(z - latents_mean) / latents_std`` with
                                                      the VAE config's per-channel statistics
                                                      (the inverse of what ``WanPipeline``
                                                      does before ``vae.decode``)
conditions/                (L, D)                     ``prompt_embeds``: UMT5 last hidden state of the caption,
                                                      zeroed after the real tokens (exactly
                                                      ``WanPipeline._get_t5_prompt_embeds``)
                           (L,) int64                 ``prompt_attention_mask``: 1 for real tokens (incl. ``</s>``), 0 for
                                                      padding. Informational: the Wan
                                                      transformer takes no text mask (padding is
                                                      the zero vectors above)
latents/ ``fps``           () float32                 frame rate of the clip (Wan 2.1: 16)
=========================  =========================  ==========================================

Files: one safetensors file per clip and folder, ``<folder>/videos/<clip_id>.safetensors``
(``save_record``). They are reelset's own format, not musubi-tuner's latent cache
(kohya-ss/musubi-tuner @ 30c658c4f4b0bf05038b3346eff9670259b10fc7,
``src/musubi_tuner/dataset/image_video_dataset.py``, ``dataset/cache_io.py``: one
``<stem>_<start:05d>-<F:03d>_<W:04d>x<H:04d>_wan.safetensors`` per clip with
``latents_{F'}x{H'}x{W'}_bfloat16`` and one ``<stem>_wan_te.safetensors`` with
``varlen_t5_bfloat16`` = the UMT5 output cut to the real token count), and the key names differ
on purpose (``latents``, ``prompt_embeds``), so neither trainer picks up the other's files by
accident. The tensors mean the same (normalised posterior mean; UMT5 last hidden state), but
musubi-tuner recomputes the bucket from the source W x H in the file name and deletes cache
files it did not make unless ``--keep_cache`` is given, so ``reelset export --for musubi``
hands it the videos and lets its own cachers run (docs/training.md).

Clip rules (Wan 2.1 VAE and patching; the same as ``WanPipeline.__call__``): F = 4n+1 frames
(causal 4x temporal compression: first frame alone, then groups of 4), W and H multiples of 16
(8x spatial VAE compression times the transformer's 2x2 patch). Wan 2.1 is trained at 16 fps;
the frame rate is not checked here (the packaging step resamples), only reported.

Training objective (rectified flow, as in musubi-tuner ``wan_train_network.py`` /
``hv_train_network.py`` and diffusion-pipe's Wan model): x_t = (1 - sigma) x0 + sigma eps,
eps ~ N(0, 1), target velocity eps - x0, plain MSE over all elements. The diffusers transformer
takes ``timestep = sigma * 1000`` (``UniPCMultistepScheduler`` with ``use_flow_sigmas`` sets
``timesteps = sigmas * num_train_timesteps``, which is what ``WanPipeline`` passes; musubi-tuner
passes ``t * 1000 + 1``, a 0.1 % difference we do not copy). Sigma sampling: musubi-tuner's
``--timestep_sampling shift --discrete_flow_shift 3.0`` from its Wan guide (docs/wan.md), see
:func:`sample_sigmas`.

LoRA: :data:`DEFAULT_TARGET_MODULES` are the linear layers of every transformer block, i.e. what
musubi-tuner (``networks/lora_wan.py``: all ``nn.Linear`` inside ``WanAttentionBlock``, excluding
norms/embeddings/head) and diffusion-pipe (``adapter_target_modules = ['WanAttentionBlock']``)
train, in diffusers names: self-attention ``attn1.to_q/to_k/to_v/to_out.0``, cross-attention
``attn2.*`` (same names; peft matches both), feed-forward ``ffn.net.0.proj`` / ``ffn.net.2``.
Saved by ``WanPipeline.save_lora_weights(dir, transformer_lora_layers=...)`` as
``pytorch_lora_weights.safetensors`` with keys ``transformer.blocks.{i}.attn1.to_q.lora_A.weight``
(``lora_B`` likewise); ``pipe.load_lora_weights(dir)`` reads them back.

Errors: ``ValueError`` whose message names the file and the reason (unreadable video, no video
stream, no frames, frames not 4n+1, width/height not multiples of 16); bad ``parts`` or
``max_text_tokens`` -> ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from reelset.families.model import WHOLE, Expert, FamilyModel
from reelset.schemas.wan_package import WanPackageConfig
from reelset.train import read_frames

PIPELINE_CLASS = "WanPipeline"
# all linear layers of the Wan blocks (musubi-tuner lora_wan.py / diffusion-pipe wan: WanAttentionBlock),
# diffusers names; "to_q" etc. match both attn1 (self) and attn2 (cross)
DEFAULT_TARGET_MODULES: list[str] = ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"]

SPATIAL_FACTOR = 8      # Wan 2.1 VAE: pixels per latent cell
# Wan 2.1's clip rules, whose one home is the Wan package config (reelset/schemas/wan_package.py; Wan21Config keeps them)
TEMPORAL_FACTOR = WanPackageConfig.FRAME_STEP    # frames per latent frame after the first (F = 4n + 1)
SIZE_MULTIPLE = WanPackageConfig.SIZE_MULTIPLE   # SPATIAL_FACTOR x transformer patch 2 = 16
TIMESTEP_SCALE = 1000   # scheduler num_train_timesteps: timestep = sigma * 1000
FILE_SUFFIX = ".safetensors"
TEXT_TOKENS = 512       # Wan 2.1 text length (WanPipeline max_sequence_length, musubi text_len)
FLOW_SHIFT = 3.0        # musubi-tuner's documented Wan 2.1 --discrete_flow_shift (docs/wan.md)
GUIDANCE = 5.0          # WanPipeline / Wan 2.1 default classifier-free guidance
PARTS = ("encode", "train", "all")


def _pipeline_cls():
    from diffusers import WanPipeline

    return WanPipeline


def load_pipeline(model_dir: Path, *, device: str | torch.device, dtype: torch.dtype, parts: str,
                  leave_out: tuple[str, ...] = ()):
    """Load the Wan 2.1 pipeline from a local diffusers directory through ``WanPipeline.from_pretrained``.

    ``parts``: ``"encode"`` (VAE, UMT5 text encoder, tokenizer; no transformer) for
    :func:`encode_clip`; ``"train"`` (transformer + scheduler only; ``vae``, ``text_encoder`` and
    ``tokenizer`` are ``None``) for :func:`training_loss`; ``"all"`` for :func:`generate`.
    ``leave_out``: components not loaded either (Wan 2.2 A14B: the expert not being trained,
    ``"transformer_2"``; its attribute is then ``None``).
    Components are moved to ``device`` in ``dtype`` and put in eval mode (the caller sets
    ``transformer.train()``). Raises ``ValueError`` for another ``parts``; diffusers raises
    ``OSError``/``EnvironmentError`` for a missing or broken directory.
    """
    if parts not in PARTS:
        raise ValueError(f"load_pipeline: parts must be one of {PARTS}, got {parts!r}")
    skip = {"encode": ("transformer", "transformer_2"), "train": ("vae", "text_encoder", "tokenizer"), "all": ()}[parts]
    pipe = _pipeline_cls().from_pretrained(str(model_dir), dtype=dtype, **{name: None for name in (*skip, *leave_out)})
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    for name in ("transformer", "transformer_2", "vae", "text_encoder"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.eval()
    return pipe


# ---------------------------------------------------------------- decoding the clip

def clip_rules(pipe) -> tuple[int, int, int]:
    """(spatial factor, temporal factor, size multiple) of ``pipe``'s checkpoint, read as
    ``WanPipeline`` reads them: ``vae.config.scale_factor_spatial`` / ``scale_factor_temporal``
    (Wan 2.1's 8 / 4 when the pipeline was loaded without its VAE) and the size multiple = spatial
    factor x ``transformer.config.patch_size[1]`` (patch 2 when loaded without the transformer)."""
    vae = getattr(pipe, "vae", None)
    spatial = int(vae.config.scale_factor_spatial) if vae is not None else SPATIAL_FACTOR
    temporal = int(vae.config.scale_factor_temporal) if vae is not None else TEMPORAL_FACTOR
    transformer = getattr(pipe, "transformer", None)
    patch = int(transformer.config.patch_size[1]) if transformer is not None else SIZE_MULTIPLE // SPATIAL_FACTOR
    return spatial, temporal, spatial * patch


def check_size(path: Path | str, width: int, height: int, frames: int, *, size_multiple: int = SIZE_MULTIPLE,
               frame_step: int = TEMPORAL_FACTOR) -> None:
    """Raise ValueError naming ``path`` unless width and height are multiples of ``size_multiple``
    and frames = ``frame_step`` * n + 1 (Wan 2.1: 16 and 4: 8x spatial VAE x 2x2 patch, causal 4x
    temporal VAE; :func:`clip_rules` gives a checkpoint's; the ``WanPipeline.__call__`` checks,
    which only warn and round there)."""
    if width % size_multiple or height % size_multiple or width <= 0 or height <= 0:
        raise ValueError(f"{path}: size {width}x{height} is not a multiple of {size_multiple} in both dimensions")
    if frames % frame_step != 1:
        raise ValueError(f"{path}: {frames} frames is not {frame_step}n+1 (e.g. {4 * frame_step + 1}, {8 * frame_step + 1})")


def _text_mask(pipe, caption: str, max_text_tokens: int) -> torch.Tensor:
    """(L,) int64 attention mask of the caption as ``WanPipeline._get_t5_prompt_embeds`` tokenizes it."""
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean

    enc = pipe.tokenizer([prompt_clean(caption)], padding="max_length", max_length=max_text_tokens,
                         truncation=True, add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    return enc.attention_mask[0].to(torch.int64)


@torch.no_grad()
def encode_text(pipe, caption: str, *, max_text_tokens: int, device, dtype) -> dict[str, torch.Tensor]:
    """Caption -> ``prompt_embeds`` (L, D) float32 and ``prompt_attention_mask`` (L,) int64 on the CPU
    (L = ``max_text_tokens``), through ``WanPipeline.encode_prompt`` (UMT5, right padding, embeddings
    zeroed after the real tokens, longer captions truncated). Raises ValueError when
    ``max_text_tokens`` is not positive."""
    if max_text_tokens <= 0:
        raise ValueError(f"max_text_tokens={max_text_tokens} must be positive (Wan 2.1 uses {TEXT_TOKENS})")
    embeds, _ = pipe.encode_prompt(caption, do_classifier_free_guidance=False, max_sequence_length=max_text_tokens,
                                   device=device, dtype=dtype)
    return {"prompt_embeds": embeds[0].float().cpu().contiguous(),
            "prompt_attention_mask": _text_mask(pipe, caption, max_text_tokens)}


def _normalize(vae, z: torch.Tensor) -> torch.Tensor:
    """(B, C, F', H', W') raw posterior -> (z - latents_mean) / latents_std (per channel, VAE config)."""
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32, device=z.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, dtype=torch.float32, device=z.device).view(1, -1, 1, 1, 1)
    return (z.float() - mean) / std


@torch.no_grad()
def encode_clip(pipe, video_path: Path, caption: str, *, audio: bool, max_text_tokens: int,
                device, dtype) -> dict[str, dict[str, torch.Tensor]]:
    """One packaged clip (mp4, F = 4n+1 frames, W and H multiples of 16, 16 fps) and its caption ->
    its records by folder, tensors without batch dimension, float32 on the CPU (table in the
    module docstring): ``latents`` (``latents`` (C, (F-1)/4+1, H/8, W/8), ``fps`` ()) and
    ``conditions`` (``prompt_embeds`` (L, D), ``prompt_attention_mask`` (L,)). Deterministic: the VAE posterior mode (its mean), never a sample.

    ``pipe``: from ``load_pipeline(parts="encode")`` (or ``"all"``); computation on ``device`` in
    ``dtype`` (the Wan authors recommend float32 for the VAE). ``audio`` is accepted for the common
    family signature and ignored (Wan 2.1 is video-only). Pixels are mapped to [-1, 1] as
    ``WanPipeline``'s ``VideoProcessor`` does. Raises ValueError naming ``video_path``: unreadable,
    no video, no frames, size not /16, frames not 4n+1; or for ``max_text_tokens`` <= 0.
    """
    del audio  # video-only family
    video_path = Path(video_path)
    frames, fps = read_frames(video_path)
    n, h, w, _ = frames.shape
    _, temporal, multiple = clip_rules(pipe)
    check_size(video_path, w, h, n, size_multiple=multiple, frame_step=temporal)
    out = encode_text(pipe, caption, max_text_tokens=max_text_tokens, device=device, dtype=dtype)

    vae = pipe.vae
    x = torch.from_numpy(frames).to(device).permute(3, 0, 1, 2).unsqueeze(0)        # (1, 3, F, H, W) uint8
    x = x.to(torch.float32).div(127.5).sub(1.0).to(vae.dtype)
    z = vae.encode(x).latent_dist.mode()                                           # (1, C, F', H', W')
    out["latents"] = _normalize(vae, z)[0].cpu().contiguous()
    out["fps"] = torch.tensor(fps, dtype=torch.float32)
    return {"latents": {"latents": out["latents"], "fps": out["fps"]},
            "conditions": {"prompt_embeds": out["prompt_embeds"], "prompt_attention_mask": out["prompt_attention_mask"]}}


def latent_shapes(width: int, height: int, frames: int, *, pipe,
                  max_text_tokens: int = TEXT_TOKENS) -> dict[str, dict[str, tuple]]:
    """Shapes (by folder and key) of the records :func:`encode_clip` returns for a width x height x frames clip (see the module
    docstring). Works with any ``parts``: channels from ``vae.config.z_dim`` or else
    ``transformer.config.in_channels``; D from ``text_encoder.config.d_model`` or else
    ``transformer.config.text_dim``. Raises ValueError when the size is not /16 or frames not 4n+1."""
    spatial, temporal, multiple = clip_rules(pipe)
    check_size("latent_shapes", width, height, frames, size_multiple=multiple, frame_step=temporal)
    vae = getattr(pipe, "vae", None)
    channels = vae.config.z_dim if vae is not None else pipe.transformer.config.in_channels
    te = getattr(pipe, "text_encoder", None)
    d = te.config.d_model if te is not None else pipe.transformer.config.text_dim
    return {
        "latents": {"latents": (channels, (frames - 1) // temporal + 1, height // spatial, width // spatial), "fps": ()},
        "conditions": {"prompt_embeds": (max_text_tokens, d), "prompt_attention_mask": (max_text_tokens,)},
    }


# ---------------------------------------------------------------- files

def save_record(path: Path, record: dict[str, torch.Tensor]) -> None:
    """Write one record (a dict of CPU tensors) as a safetensors file."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in record.items()}, str(path))


def load_record(path: Path) -> dict[str, torch.Tensor]:
    """Read a record written by :func:`save_record` (CPU tensors). Errors propagate."""
    from safetensors.torch import load_file

    return load_file(str(path))


def training_inputs(pipe, records: dict[str, dict[str, torch.Tensor]], *, device, dtype) -> dict[str, torch.Tensor]:
    """One clip's records by folder -> the flat tensors :func:`training_loss` takes (``latents``,
    ``fps``, ``prompt_embeds``, ``prompt_attention_mask``) on ``device``, floating ones in
    ``dtype``, plus ``expand_timesteps`` () bool: the pipeline's ``expand_timesteps`` config
    (``model_index.json``; True for Wan 2.2 TI2V-5B: one timestep per latent token; False when
    ``pipe`` is None)."""
    flat = {k: v for rec in records.values() for k, v in rec.items()}
    out = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in flat.items()}
    expand = bool(pipe.config.get("expand_timesteps", False)) if pipe is not None else False
    out["expand_timesteps"] = torch.tensor(expand, device=device)
    return out


# ---------------------------------------------------------------- training

def sample_sigmas(batch: int, seq_len: int, generator: torch.Generator, *, shift: float = FLOW_SHIFT,
                  sigmoid_scale: float = 1.0) -> torch.Tensor:
    """Noise levels sigma in (0, 1), shape (batch,) float32 on the generator's device: musubi-tuner's
    ``--timestep_sampling shift`` (``hv_train_network.py``), t = sigmoid(sigmoid_scale * N(0, 1)),
    sigma = shift * t / (1 + (shift - 1) * t), with ``--discrete_flow_shift 3.0`` (``sigmoid_scale``
    1.0 is its default), the settings of its Wan 2.1 training example (docs/wan.md). Shift 3 moves
    the median sigma from 0.5 to 0.75 (more high-noise steps), the same shift as Wan 2.1's 480p
    sampler. ``seq_len`` (video tokens) is accepted for the common family signature and unused:
    unlike LTX-2, Wan's shift does not depend on the token count. Draws one normal per sample from
    ``generator``; clamped to [1e-5, 1 - 1e-5] so sigma is never exactly 0 or 1."""
    del seq_len
    t = torch.sigmoid(torch.randn((batch,), generator=generator, device=generator.device) * sigmoid_scale)
    sigma = shift * t / (1 + (shift - 1) * t)
    return sigma.clamp(1e-5, 1 - 1e-5).float()


def training_loss(transformer, batch: dict[str, torch.Tensor], sigmas: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """Rectified-flow loss of one batch: scalar float32 with grad.

    ``batch``: :func:`encode_clip` outputs stacked on a new dim 0 (one bucket, equal shapes):
    ``latents`` (B, C, F', H', W'), ``prompt_embeds`` (B, L, D), ``expand_timesteps`` (B,) bool
    (optional: per-token timesteps as ``WanPipeline`` with ``expand_timesteps``); other keys are ignored.
    ``sigmas``: (B,) noise levels in (0, 1) (:func:`sample_sigmas`). ``generator`` draws the noise
    eps ~ N(0, 1) of the latents' shape, so a seeded generator makes the loss reproducible.
    x_t = (1 - sigma) x0 + sigma eps, target eps - x0, prediction
    ``transformer(x_t, timestep=sigma * 1000, encoder_hidden_states=prompt_embeds)``, loss = MSE
    in float32. Tensors are moved to the transformer's device and dtype. Works with a peft LoRA
    (``transformer.add_adapter``) and with gradient checkpointing (``enable_gradient_checkpointing``).
    """
    p = next(transformer.parameters())
    device, dtype = p.device, p.dtype
    x0 = batch["latents"].to(device, torch.float32)
    eps = torch.randn(x0.shape, generator=generator, device=generator.device).to(device)
    s = sigmas.to(device, torch.float32).view(-1, 1, 1, 1, 1)
    x_t = (1 - s) * x0 + s * eps
    target = eps - x0
    timestep = s.view(-1) * TIMESTEP_SCALE
    if "expand_timesteps" in batch and bool(batch["expand_timesteps"].any()):
        # WanPipeline with expand_timesteps (Wan 2.2 TI2V): a (B, tokens) timestep, tokens =
        # F' x H'/2 x W'/2 (the transformer's patch), every token at the clip's sigma (text-to-video)
        pt, ph, pw = transformer.config.patch_size
        tokens = (x0.shape[2] // pt) * (x0.shape[3] // ph) * (x0.shape[4] // pw)
        timestep = timestep[:, None].expand(-1, tokens)
    pred = transformer(hidden_states=x_t.to(dtype), timestep=timestep,
                       encoder_hidden_states=batch["prompt_embeds"].to(device, dtype), return_dict=False)[0]
    return torch.nn.functional.mse_loss(pred.float(), target)


# ---------------------------------------------------------------- sampling

@torch.no_grad()
def generate(pipe, prompt: str, *, width: int, height: int, frames: int, fps: float, steps: int, seed: int,
             device, guidance: bool = True, negative_prompt: str = "",
             max_text_tokens: int = TEXT_TOKENS) -> dict[str, Any]:
    """Text-to-video with the (LoRA-loaded) pipeline (``parts="all"``).

    ``width``/``height`` multiples of 16, ``frames`` = 4n+1, ``fps`` frames per second (only
    reported: Wan 2.1 has no frame-rate input; it was trained on 16 fps), ``steps`` >= 1 UniPC
    steps, ``seed`` for ``torch.Generator(device).manual_seed``. ``guidance``: classifier-free
    guidance 5.0 against ``negative_prompt`` (two transformer passes per step; Wan's default);
    ``False``: one conditional pass per step.
    Returns ``{"frames": uint8 (F, H, W, 3), "fps": float, "audio": None, "sample_rate": None}``.
    Raises ValueError for a size not /16 or frames not 4n+1.
    """
    _, temporal, multiple = clip_rules(pipe)
    check_size("generate", width, height, frames, size_multiple=multiple, frame_step=temporal)
    gen = torch.Generator(device=device).manual_seed(seed)
    video = pipe(prompt=prompt, negative_prompt=negative_prompt if guidance else None, width=width, height=height,
                 num_frames=frames, num_inference_steps=steps, guidance_scale=GUIDANCE if guidance else 1.0,
                 generator=gen, output_type="np", return_dict=False, max_sequence_length=max_text_tokens)[0]
    frames_u8 = np.clip(np.round(np.asarray(video[0], dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    return {"frames": frames_u8, "fps": float(fps), "audio": None, "sample_rate": None}


class WanModel(FamilyModel):
    """Wan (2.1 T2V, 2.2 TI2V-5B) model code behind :class:`reelset.families.model.FamilyModel`: this module's functions
    (their docstrings give shapes and units); one transformer, so one full-range expert."""

    PIPELINE_CLASS = PIPELINE_CLASS
    DEFAULT_TARGET_MODULES = DEFAULT_TARGET_MODULES
    FILE_SUFFIX = FILE_SUFFIX
    load_pipeline = staticmethod(load_pipeline)
    encode_clip = staticmethod(encode_clip)
    save_record = staticmethod(save_record)
    load_record = staticmethod(load_record)
    training_inputs = staticmethod(training_inputs)
    training_loss = staticmethod(training_loss)
    generate = staticmethod(generate)

    def sample_sigmas(self, batch: int, seq_len: int, generator: torch.Generator, *,
                      expert: Expert = WHOLE) -> torch.Tensor:
        """:func:`sample_sigmas` cut to ``expert``'s timestep range (:meth:`Expert.cut`)."""
        return expert.cut(lambda: sample_sigmas(batch, seq_len, generator))
