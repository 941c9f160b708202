"""LTX-2 model family: load the diffusers pipeline, turn a packaged clip into training tensors,
the flow-matching training loss, and text-to-video(+audio) sampling.

Used by step4-ltx2-preprocess (``encode_clip``, ``save_record``), step5-ltx2-train
(``load_pipeline(parts="train")``, ``load_record``, ``training_inputs``, ``sample_sigmas``,
``training_loss``, LoRA targets) and the preview renders (``generate``). Every model is a local
diffusers directory (``LTX2Pipeline.save_pretrained`` layout: ``transformer/``, ``vae/``,
``audio_vae/``, ``text_encoder/`` (Gemma-3), ``tokenizer/``, ``connectors/``, ``vocoder/``,
``scheduler/``), loaded through the real ``diffusers.LTX2Pipeline`` code path (diffusers
0.42.1); tests use the tiny random one of ``tools/make_tiny_models.py ltx2``.

Files: the layout and meaning of ltx-trainer's precomputed data (Lightricks/LTX-2
``packages/ltx-trainer``, read at commit 400fd31054597515f47125691032c04b1c3ee24e:
``scripts/process_videos.py``, ``scripts/process_captions.py``, ``src/ltx_trainer/datasets.py``
``PrecomputedDataset``, ``src/ltx_trainer/trainer.py`` ``_training_step``; ltx-core
``text_encoders/gemma/feature_extractor.py`` and ``embeddings_processor.py``), so the official
trainer trains on step4's output and step5 reads the same files. One ``torch.save`` dict per
clip and folder, named after the clip's media path in the package with ``.pt``
(``videos/<clip_id>.mp4`` -> ``latents/videos/<clip_id>.pt``). Shapes have no batch dimension;
C = ``vae.config.latent_channels`` (128; tiny model 8), Ca = ``audio_vae.config.latent_channels``
(8; tiny 4), M = ``audio_vae.config.mel_bins // 4`` (16; tiny 4), D = ``caption_channels``
(3840; tiny 32; LTX-2.3: ``video_hidden_dim`` / ``audio_hidden_dim``), L = ``max_text_tokens``
(1024, the trainer's Gemma length):

=================  ==========================  ===========================================
folder: key        shape, dtype                meaning
=================  ==========================  ===========================================
latents/           (C, (F-1)/8+1, H/32, W/32)  ``latents``: video latent, posterior mode,
                   bfloat16                    normalised per channel
                                               (``LTX2Pipeline._normalize_latents``; ltx-core
                                               ``VideoEncoder`` does the same)
                   int, int, int, float        ``num_frames``, ``height``, ``width`` (latent
                                               sizes), ``fps`` (the clip's frame rate)
conditions/        (L, D) bfloat16             ``video_prompt_embeds``, ``audio_prompt_embeds``:
                                               text features *before* the connectors (Gemma-3
                                               hidden states of all layers -> feature
                                               extractor, :func:`extract_features`)
                   (L,) int64                  ``prompt_attention_mask``: the tokenizer's mask
                                               (left padding)
audio_latents/     (Ca, La, M) float32         ``latents``: audio latent (only with
                                               ``audio=True`` and an audio stream), posterior
                                               mode, normalised like
                                               ``LTX2Pipeline.prepare_audio_latents``
                   int, int, float             ``num_time_steps``, ``frequency_bins``,
                                               ``duration`` (seconds)
=================  ==========================  ===========================================

For F video frames at ``fps``: La = ceil((F / fps * 16000 // 160 + 1) / 4) audio latent steps
(16 kHz, hop 160 -> 100 mel frames/s, causal 4x time downsampling -> 25 latents/s), e.g.
17 frames at 24 fps -> 18 steps (see :func:`latent_shapes`).

The connectors run at training time, in :func:`training_inputs` (as the trainer's
``_training_step`` does): ``extract_features`` then ``apply_connectors`` equals diffusers'
``LTX2TextConnectors.forward`` (tested). No file carries the legacy ``prompt_embeds`` key: the
trainer reads that one as features too, and :func:`training_inputs` refuses it.

Where the numbers can differ from the trainer's own files (same keys, same meaning): the
computation is diffusers' port of ltx-core, not ltx-core itself; the audio is resampled by
PyAV's libswresample instead of torchaudio (not installed) before the same log-mel
(:func:`log_mel`: ``ltx_core`` ``AudioProcessor``: 16 kHz, n_fft 1024, hop 160, Hann,
centre/reflect, magnitude, Slaney mel scale and norm, ``log(clamp(mel, 1e-5))``) of the clip's
audio trimmed/zero-padded to F/fps seconds; mono is duplicated to the two channels the audio VAE
expects, more channels are downmixed by libswresample (the trainer uses fixed 5.1/7.1 weights).
Captions are encoded as the package's manifest writes them: they start with the bible's
trigger word, exactly once (reelset.captiontext.caption_for; no ``--lora-trigger`` here). The tiny test model's sizes (C 8, D 32) are not LTX-2's, so
the official trainer only loads files made with the real model.

Training objective (trainer ``training_strategies/flexible.py``): rectified flow;
x_t = (1 - sigma) x0 + sigma eps, target velocity eps - x0, per-modality MSE, video + audio loss
summed with weight 1 each, an independent sigma per modality drawn from the shifted logit-normal
sampler (``timestep_samplers.py``) with that modality's token count. The diffusers transformer
takes ``timestep = sigma * 1000`` (``FlowMatchEulerDiscreteScheduler.timesteps``, what
``LTX2Pipeline`` passes).

Audio off: the trainer's ``ltx_core`` transformer simply skips a disabled modality. The diffusers
``LTX2VideoTransformer3DModel.forward`` always runs both streams, so :func:`training_loss` passes
**zero audio tokens** (``audio_hidden_states`` of shape (B, 0, Ca*M)) and
``isolate_modalities=True`` (no audio-to-video / video-to-audio cross-attention): the video
prediction then depends on video and text only, like the trainer's video-only mode.

LoRA: :data:`DEFAULT_TARGET_MODULES` is the trainer's default (``ltx_trainer/config.py``
``LoraConfig.target_modules``; rank 64, alpha 64 there); in the diffusers transformer these names
match every attention of every block (video self/cross, audio self/cross, audio<->video).

Errors: ``ValueError`` whose message names the file and the reason (unreadable video, no video
stream, frames not 8n+1, width/height not multiples of 32, text length not a multiple of the
connector's register count); unknown ``parts`` -> ``ValueError``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reelset.families.ltx2.config import Ltx2Config
from reelset.families.model import WHOLE, Expert, FamilyModel
from reelset.train import read_frames

PIPELINE_CLASS = "LTX2Pipeline"
# ltx-trainer default LoRA targets (packages/ltx-trainer/src/ltx_trainer/config.py)
DEFAULT_TARGET_MODULES: list[str] = ["to_k", "to_q", "to_v", "to_out.0"]

# the family's clip rules, whose one home is the package config (reelset/families/ltx2/config.py)
SPATIAL_FACTOR = Ltx2Config.SIZE_MULTIPLE  # LTX-2 video VAE: pixels per latent cell, 32 (also the tiny model)
TEMPORAL_FACTOR = Ltx2Config.FRAME_STEP    # frames per latent frame after the first (F = 8n + 1)
TIMESTEP_SCALE = 1000   # FlowMatchEulerDiscreteScheduler.num_train_timesteps: timestep = sigma * 1000
N_FFT = 1024            # ltx_core AudioProcessor n_fft (the audio VAE encoder's)
# LTX2Pipeline.__call__ default (True = LTX-2.3+ cross-modal modulation); used in training and generate alike
USE_CROSS_TIMESTEP = True
PARTS = ("encode", "train", "all")
# stored dtype of video latents and text features: ltx-trainer runs its VAE and Gemma in bf16 and
# saves without a cast (audio latents stay float32: its audio VAE runs in float32)
STORE_DTYPE = torch.bfloat16
FILE_SUFFIX = ".pt"     # ltx-trainer's precomputed files (torch.save)


def _pipeline_cls():
    from diffusers import LTX2Pipeline

    return LTX2Pipeline


def load_pipeline(model_dir: Path, *, device: str | torch.device, dtype: torch.dtype, parts: str):
    """Load the LTX-2 pipeline from a local diffusers directory through ``LTX2Pipeline.from_pretrained``.

    ``parts``: ``"encode"`` (VAEs, Gemma text encoder, tokenizer, connectors; no transformer or
    vocoder) for :func:`encode_clip`; ``"train"`` (transformer, connectors (frozen, for
    :func:`training_inputs`) and scheduler; the other components are ``None``) for
    :func:`training_loss`; ``"all"`` (everything) for :func:`generate`.
    The components are moved to ``device`` with ``dtype`` and put in eval mode (the caller sets
    ``transformer.train()`` when training). Raises ``ValueError`` for another ``parts``;
    diffusers raises ``OSError``/``EnvironmentError`` for a missing or broken directory.
    """
    if parts not in PARTS:
        raise ValueError(f"load_pipeline: parts must be one of {PARTS}, got {parts!r}")
    skip = {"encode": ("transformer", "vocoder"),
            "train": ("vae", "audio_vae", "text_encoder", "tokenizer", "vocoder"),
            "all": ()}[parts]
    pipe = _pipeline_cls().from_pretrained(str(model_dir), dtype=dtype, **{name: None for name in skip})
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    for name in ("transformer", "vae", "audio_vae", "text_encoder", "connectors", "vocoder"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.eval()
    return pipe


# ---------------------------------------------------------------- decoding the clip

def _read_clip(path: Path, audio: bool, audio_rate: int) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Decode ``path``: frames (F, H, W, 3) uint8 RGB and fps (:func:`reelset.train.read_frames`),
    and (when ``audio`` and the file has an audio stream) the whole audio track as float32
    (2, samples) at ``audio_rate`` Hz via PyAV's resampler, else None. Raises ValueError naming
    the file when it cannot be decoded or has no video."""
    import av

    frames, fps = read_frames(path)
    wave = None
    if audio:
        try:
            with av.open(str(path)) as container:
                if container.streams.audio:
                    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=audio_rate)
                    chunks = []
                    for frame in container.decode(audio=0):
                        chunks += [f.to_ndarray() for f in resampler.resample(frame)]
                    chunks += [f.to_ndarray() for f in resampler.resample(None)]
                    wave = np.concatenate(chunks, axis=1).astype(np.float32) if chunks else np.zeros((2, 0), np.float32)
        except (av.error.FFmpegError, OSError) as e:  # av.error.* subclass both on some versions
            raise ValueError(f"{path}: unreadable audio: {e}") from e
    return frames, fps, wave


def check_size(path: Path | str, width: int, height: int, frames: int) -> None:
    """Raise ValueError naming ``path`` unless width and height are multiples of 32 and
    frames = 8n + 1 (LTX-2's VAE: 32x spatial, causal 8x temporal compression; same rule as
    ltx-trainer's ``parse_resolution_buckets``)."""
    if width % SPATIAL_FACTOR or height % SPATIAL_FACTOR:
        raise ValueError(f"{path}: size {width}x{height} is not a multiple of {SPATIAL_FACTOR} in both dimensions")
    if frames % TEMPORAL_FACTOR != 1:
        raise ValueError(f"{path}: {frames} frames is not 8n+1 (e.g. 9, 17, 25, ..., 121)")


def log_mel(wave: torch.Tensor, *, sample_rate: int, hop_length: int, mel_bins: int) -> torch.Tensor:
    """Log-mel spectrogram as LTX-2's audio VAE expects it (``ltx_core`` ``AudioProcessor``:
    ``torchaudio.transforms.MelSpectrogram(n_fft=1024, win_length=1024, hop_length, f_min=0,
    f_max=sr/2, n_mels, hann window, center=True, pad_mode="reflect", power=1.0,
    mel_scale="slaney", norm="slaney")`` then ``log(clamp(mel, min=1e-5))``), reimplemented with
    ``torch.stft`` and transformers' Slaney filter bank.

    ``wave``: float (channels, samples) in [-1, 1] at ``sample_rate``; at least 513 samples
    (reflect padding). Returns float32 (1, channels, frames, mel_bins) with
    frames = samples // hop_length + 1.
    """
    from transformers.audio_utils import mel_filter_bank

    fb = torch.from_numpy(mel_filter_bank(num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=mel_bins,
                                          min_frequency=0.0, max_frequency=sample_rate / 2.0,
                                          sampling_rate=sample_rate, norm="slaney", mel_scale="slaney")).float()
    spec = torch.stft(wave.float(), n_fft=N_FFT, hop_length=hop_length, win_length=N_FFT,
                      window=torch.hann_window(N_FFT), center=True, pad_mode="reflect", return_complex=True).abs()
    mel = torch.einsum("cft,fm->ctm", spec, fb)
    return torch.log(torch.clamp(mel, min=1e-5)).unsqueeze(0)


def _text_multiple(pipe) -> int:
    """The text length must be a multiple of the connectors' learnable register count (LTX2ConnectorTransformer1d)."""
    return int(pipe.connectors.config.video_connector_num_learnable_registers or 1)


@torch.no_grad()
def encode_text(pipe, caption: str, *, max_text_tokens: int, device, dtype) -> dict[str, torch.Tensor]:
    """Caption -> the ``conditions`` record of ltx-trainer's ``process_captions.py``: the text
    features *before* the connectors. ``video_prompt_embeds`` (L, D) and ``audio_prompt_embeds``
    (L, D) bfloat16 (the feature extractor's output: Gemma-3 hidden states of all layers from
    ``LTX2Pipeline.encode_prompt``, normalised and projected by :func:`extract_features`; the same
    tensor twice for LTX-2.0, one projection each for LTX-2.3) and ``prompt_attention_mask`` (L,)
    int64, the tokenizer's mask (left padding, 1 = token). L = ``max_text_tokens``. CPU tensors;
    :func:`apply_connectors` turns them into the transformer's text context.
    Raises ValueError when ``max_text_tokens`` is not a positive multiple of the connector's
    register count (128 for LTX-2)."""
    mult = _text_multiple(pipe)
    if max_text_tokens <= 0 or max_text_tokens % mult:
        raise ValueError(f"max_text_tokens={max_text_tokens} must be a positive multiple of {mult} "
                         f"(the LTX-2 text connector's learnable registers)")
    embeds, mask, _, _ = pipe.encode_prompt(caption, do_classifier_free_guidance=False,
                                            max_sequence_length=max_text_tokens, device=device, dtype=dtype)
    padding_side = getattr(pipe.tokenizer, "padding_side", "left")
    video, audio = extract_features(pipe.connectors, embeds.to(dtype), mask, padding_side=padding_side)
    return {"video_prompt_embeds": video[0].to(STORE_DTYPE).cpu().contiguous(),
            "audio_prompt_embeds": audio[0].to(STORE_DTYPE).cpu().contiguous(),
            "prompt_attention_mask": mask[0].to(torch.int64).cpu().contiguous()}


def extract_features(connectors, hidden: torch.Tensor, mask: torch.Tensor, *,
                     padding_side: str = "left") -> tuple[torch.Tensor, torch.Tensor]:
    """The feature-extractor half of ``diffusers`` ``LTX2TextConnectors.forward`` (ltx-core's
    ``FeatureExtractorV1`` / ``V2``): Gemma hidden states (B, L, D*layers) or (B, L, D, layers)
    and the tokenizer mask (B, L) -> (video features, audio features), each (B, L, D_v / D_a).
    LTX-2.0 (``per_modality_projections`` off): per-layer masked mean/range norm, one projection,
    video = audio; LTX-2.3: per-token RMS norm, one projection per modality. Uses diffusers'
    norm functions and the module's own layers, so it is that model's computation."""
    from diffusers.pipelines.ltx2.connectors import per_layer_masked_mean_norm, per_token_rms_norm

    cfg = connectors.config
    if hidden.ndim == 3:
        hidden = hidden.unflatten(2, (cfg.caption_channels, -1))
    if cfg.per_modality_projections:
        normed = per_token_rms_norm(hidden).flatten(2, 3)
        normed = torch.where(mask.bool().unsqueeze(-1), normed, torch.zeros_like(normed))
        video = connectors.video_text_proj_in(normed * math.sqrt(cfg.video_hidden_dim / cfg.caption_channels))
        audio = connectors.audio_text_proj_in(normed * math.sqrt(cfg.audio_hidden_dim / cfg.caption_channels))
        return video, audio
    normed = per_layer_masked_mean_norm(hidden, mask.sum(dim=-1), device=hidden.device, padding_side=padding_side)
    video = connectors.text_proj_in(normed)
    return video, video


def apply_connectors(connectors, video: torch.Tensor, audio: torch.Tensor,
                     mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The connector half of ``LTX2TextConnectors.forward`` (ltx-core ``EmbeddingsProcessor.
    create_embeddings``, what ltx-trainer runs at every step): features (B, L, D) from
    :func:`extract_features` (or a ``conditions`` file) and the tokenizer mask (B, L) ->
    (video context (B, L, D), audio context (B, L, D_a), context mask (B, L) int64, all ones:
    the connector fills padding with learned registers). Runs in the features' dtype."""
    dtype = video.dtype
    additive = (mask.to(torch.int64) - 1).to(dtype).reshape(mask.shape[0], 1, -1, mask.shape[-1])
    additive = additive * torch.finfo(dtype).max
    video_ctx, video_mask = connectors.video_connector(video, additive)
    binary = (video_mask < 1e-6).to(torch.int64).reshape(video_ctx.shape[0], video_ctx.shape[1], 1)
    audio_ctx, _ = connectors.audio_connector(audio, additive)
    return video_ctx * binary, audio_ctx, binary.squeeze(-1)


@torch.no_grad()
def encode_clip(pipe, video_path: Path, caption: str, *, audio: bool, max_text_tokens: int,
                device, dtype) -> dict[str, dict[str, Any]]:
    """One packaged clip (mp4, W and H multiples of 32, F = 8n+1 frames, maybe AAC audio) and its
    caption -> the records ltx-trainer's ``process_dataset.py`` writes for it, by folder
    (table in the module docstring): ``latents`` (``latents``, ``num_frames``, ``height``,
    ``width``, ``fps``), ``conditions`` (:func:`encode_text`) and, only when ``audio`` is true
    and the clip has an audio stream, ``audio_latents`` (``latents``, ``num_time_steps``,
    ``frequency_bins``, ``duration``). CPU tensors without batch dimension, stored dtypes
    (video latents and text features bfloat16, audio latents float32, mask int64) and Python
    int/float scalars. Deterministic: posterior modes, never samples.

    ``pipe``: from ``load_pipeline(parts="encode")`` (or ``"all"``); computation on ``device`` in
    ``dtype`` (the audio VAE and mel in float32, as ltx-trainer does).
    Raises ValueError naming ``video_path``: unreadable, no video, size not /32, frames not 8n+1,
    or ``max_text_tokens`` not a multiple of the register count.
    """
    video_path = Path(video_path)
    audio_rate = int(pipe.audio_vae.config.sample_rate)
    frames, fps, wave = _read_clip(video_path, audio, audio_rate)
    n, h, w, _ = frames.shape
    check_size(video_path, w, h, n)

    records: dict[str, dict[str, Any]] = {
        "conditions": encode_text(pipe, caption, max_text_tokens=max_text_tokens, device=device, dtype=dtype)}

    # pixels in [-1, 1], (1, 3, F, H, W) as ltx-trainer's MediaDataset (to_tensor + Normalize(0.5, 0.5))
    x = torch.from_numpy(frames).to(device).permute(3, 0, 1, 2).unsqueeze(0)
    x = (x.to(torch.float32) / 127.5 - 1.0).to(dtype)
    vae = pipe.vae
    z = vae.encode(x.to(vae.dtype)).latent_dist.mode()
    z = pipe._normalize_latents(z.float(), vae.latents_mean, vae.latents_std, vae.config.scaling_factor)[0]
    records["latents"] = {"latents": z.to(STORE_DTYPE).cpu().contiguous(), "num_frames": int(z.shape[1]),
                          "height": int(z.shape[2]), "width": int(z.shape[3]), "fps": float(fps)}

    if audio and wave is not None:
        avae = pipe.audio_vae
        target = int(n / fps * audio_rate)  # trainer: trim / zero-pad to the video's duration
        wave = wave[:, :target] if wave.shape[1] >= target else np.pad(wave, ((0, 0), (0, target - wave.shape[1])))
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(wave)), sample_rate=audio_rate,
                      hop_length=int(avae.config.mel_hop_length), mel_bins=int(avae.config.mel_bins))
        za = avae.encode(mel.to(device, avae.dtype)).latent_dist.mode().float()      # (1, Ca, La, M)
        packed = pipe._pack_audio_latents(za)                                         # (1, La, Ca*M)
        packed = pipe._normalize_audio_latents(packed, avae.latents_mean.float(), avae.latents_std.float())
        za = pipe._unpack_audio_latents(packed, za.shape[2], num_mel_bins=za.shape[3])[0]
        records["audio_latents"] = {"latents": za.float().cpu().contiguous(), "num_time_steps": int(za.shape[1]),
                                    "frequency_bins": int(za.shape[2]), "duration": target / audio_rate}
    return records


def latent_shapes(width: int, height: int, frames: int, *, pipe, fps: float = 24.0,
                  max_text_tokens: int = 1024) -> dict[str, dict[str, tuple]]:
    """Tensor shapes of the records :func:`encode_clip` returns for a width x height x frames clip
    at ``fps``, by folder and key (see the module docstring). Works with any ``parts``: sizes come
    from the loaded components' configs (video channels from ``vae`` or else
    ``transformer.config.in_channels``; the audio and text entries need ``audio_vae`` /
    ``connectors`` and are left out without them).
    Raises ValueError when the size is not /32 or frames not 8n+1."""
    check_size("latent_shapes", width, height, frames)
    channels = pipe.vae.config.latent_channels if getattr(pipe, "vae", None) is not None \
        else pipe.transformer.config.in_channels
    shapes: dict[str, dict[str, tuple]] = {"latents": {
        "latents": (channels, (frames - 1) // TEMPORAL_FACTOR + 1, height // SPATIAL_FACTOR, width // SPATIAL_FACTOR)}}
    avae = getattr(pipe, "audio_vae", None)
    if avae is not None:
        samples = int(frames / fps * avae.config.sample_rate)
        mel_frames = samples // avae.config.mel_hop_length + 1
        shapes["audio_latents"] = {"latents": (avae.config.latent_channels,
                                               math.ceil(mel_frames / avae.temporal_compression_ratio),
                                               avae.config.mel_bins // avae.mel_compression_ratio)}
    conn = getattr(pipe, "connectors", None)
    if conn is not None:
        cfg = conn.config
        dv, da = (cfg.video_hidden_dim, cfg.audio_hidden_dim) if cfg.per_modality_projections \
            else (cfg.caption_channels, cfg.caption_channels)
        shapes["conditions"] = {"video_prompt_embeds": (max_text_tokens, dv),
                                "audio_prompt_embeds": (max_text_tokens, da),
                                "prompt_attention_mask": (max_text_tokens,)}
    return shapes


# ---------------------------------------------------------------- files

def save_record(path: Path, record: dict[str, Any]) -> None:
    """Write one record as ltx-trainer does (``torch.save`` of a plain dict of tensors and Python
    scalars; its ``PrecomputedDataset`` reads it with ``torch.load(weights_only=True)``)."""
    torch.save(record, path)


def load_record(path: Path) -> dict[str, Any]:
    """Read a record written by :func:`save_record` (or by ltx-trainer): ``torch.load`` on the
    CPU with ``weights_only=True``. Errors propagate (the caller names the clip)."""
    return torch.load(path, map_location="cpu", weights_only=True)


@torch.no_grad()
def training_inputs(pipe, records: dict[str, dict[str, Any]], *, device, dtype) -> dict[str, torch.Tensor]:
    """One clip's records (by folder, as :func:`encode_clip` returns them or ``load_record``
    reads them) -> the tensors :func:`training_loss` takes (no batch dimension, on ``device``,
    floating tensors in ``dtype``): ``latents``, ``fps`` (), ``prompt_embeds`` /
    ``audio_prompt_embeds`` / ``prompt_attention_mask`` (the text features run through
    ``pipe.connectors`` with :func:`apply_connectors`, as ltx-trainer's ``_training_step`` does;
    computed once per clip, the connectors being frozen) and ``audio_latents`` when present.
    Raises KeyError naming the missing key (a record without ``video_prompt_embeds`` — e.g. the
    legacy ``prompt_embeds`` of ltx-trainer's first release — is refused, not guessed)."""
    lat, cond = records["latents"], records["conditions"]
    conn = pipe.connectors
    cdtype = next(conn.parameters()).dtype
    mask = cond["prompt_attention_mask"].to(device).unsqueeze(0)
    video_ctx, audio_ctx, ctx_mask = apply_connectors(
        conn, cond["video_prompt_embeds"].to(device, cdtype).unsqueeze(0),
        cond["audio_prompt_embeds"].to(device, cdtype).unsqueeze(0), mask)
    out = {"latents": lat["latents"].to(device, dtype), "fps": torch.tensor(float(lat["fps"]), device=device, dtype=dtype),
           "prompt_embeds": video_ctx[0].to(dtype), "audio_prompt_embeds": audio_ctx[0].to(dtype),
           "prompt_attention_mask": ctx_mask[0]}
    if "audio_latents" in records:
        out["audio_latents"] = records["audio_latents"]["latents"].to(device, dtype)
    return out


# ---------------------------------------------------------------- training

def _shift_for_seq_len(seq_len: int, min_tokens: int = 1024, max_tokens: int = 4096,
                       min_shift: float = 0.95, max_shift: float = 2.05) -> float:
    """ltx-trainer ``ShiftedLogitNormalTimestepSampler._get_shift_for_sequence_length``: linear in
    the token count from 0.95 (1024 tokens) to 2.05 (4096), capped at 4096 tokens (the same line
    as the pipeline's ``calculate_shift`` with the scheduler's base/max shift)."""
    seq_len = min(seq_len, max_tokens)
    m = (max_shift - min_shift) / (max_tokens - min_tokens)
    return m * seq_len + (min_shift - m * min_tokens)


def sample_sigmas(batch: int, seq_len: int, generator: torch.Generator, *, std: float = 1.0,
                  eps: float = 1e-3, uniform_prob: float = 0.1) -> torch.Tensor:
    """Noise levels sigma in (0, 1], shape (batch,) float32 on the generator's device: ltx-trainer's
    default ``ShiftedLogitNormalTimestepSampler`` (``timestep_samplers.py``): sigmoid(N(mu, std))
    with mu = :func:`_shift_for_seq_len` (``seq_len`` = video tokens F'*H'*W'), stretched so the
    0.5th..99.9th percentiles map to [0, 1], values below ``eps`` reflected around it, and with
    probability ``uniform_prob`` replaced by U(eps, 1). Draws (in this order) normal, uniform,
    selector from ``generator``, so a seeded generator gives the same sigmas everywhere."""
    dev = generator.device
    mu = _shift_for_seq_len(seq_len)
    logit = torch.sigmoid(torch.randn((batch,), generator=generator, device=dev) * std + mu)
    hi = torch.sigmoid(torch.tensor(mu + 3.0902 * std, device=dev))
    lo = torch.sigmoid(torch.tensor(mu - 2.5758 * std, device=dev))
    raw = (logit - lo) / (hi - lo)
    stretched = torch.clamp(torch.where(raw >= eps, raw, 2 * eps - raw), 0, 1)
    uniform = (1 - eps) * torch.rand((batch,), generator=generator, device=dev) + eps
    pick = torch.rand((batch,), generator=generator, device=dev)
    return torch.where(pick > uniform_prob, stretched, uniform).float()


def _video_coords(transformer, fps: torch.Tensor, frames: int, height: int, width: int, device) -> torch.Tensor:
    """RoPE coordinates (B, 3, F'*H'*W', 2) per sample (each sample may have its own fps)."""
    coords = [transformer.rope.prepare_video_coords(1, frames, height, width, device, fps=float(f)) for f in fps.tolist()]
    return torch.cat(coords, dim=0)


def training_loss(transformer, batch: dict[str, torch.Tensor], sigmas: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """Rectified-flow loss of one batch (ltx-trainer ``FlexibleStrategy``): scalar float32 with grad.

    ``batch``: :func:`encode_clip` outputs stacked on a new dim 0 (one bucket, so equal shapes):
    ``latents`` (B, C, F', H', W'), ``prompt_embeds`` / ``audio_prompt_embeds`` (B, L, D),
    ``prompt_attention_mask`` (B, L), ``fps`` (B,), optionally ``audio_latents`` (B, Ca, La, M).
    ``sigmas``: (B,) video noise levels in (0, 1] (:func:`sample_sigmas`). ``generator`` draws the
    noise (video first, then the audio sigmas and noise), so a seeded generator makes the loss
    reproducible. Tensors are moved to the transformer's device and dtype.

    Video: x_t = (1 - sigma) x0 + sigma eps, target eps - x0, MSE over all tokens and channels.
    Audio (when ``audio_latents`` is present): the same with its own sigma drawn by
    :func:`sample_sigmas` from the audio token count (as the trainer does per modality); the total
    is video MSE + audio MSE (weight 1 each, the trainer's sum). Without audio, zero audio tokens
    and ``isolate_modalities=True`` (see the module docstring). Works with a peft LoRA
    (``transformer.add_adapter``) and with gradient checkpointing.
    """
    from diffusers import LTX2Pipeline

    p = next(transformer.parameters())
    device, dtype = p.device, p.dtype
    x0 = batch["latents"].to(device, torch.float32)
    bsz, _, nf, nh, nw = x0.shape
    cfg = transformer.config
    x0 = LTX2Pipeline._pack_latents(x0, cfg.patch_size, cfg.patch_size_t)                    # (B, S, C)
    eps = torch.randn(x0.shape, generator=generator, device=generator.device).to(device)
    s = sigmas.to(device, torch.float32)
    x_t = (1 - s[:, None, None]) * x0 + s[:, None, None] * eps
    target = eps - x0

    has_audio = "audio_latents" in batch
    if has_audio:
        a0 = LTX2Pipeline._pack_audio_latents(batch["audio_latents"].to(device, torch.float32))  # (B, La, Ca*M)
        sa = sample_sigmas(bsz, a0.shape[1], generator).to(device)
        a_eps = torch.randn(a0.shape, generator=generator, device=generator.device).to(device)
        a_t = (1 - sa[:, None, None]) * a0 + sa[:, None, None] * a_eps
        a_target = a_eps - a0
    else:
        sa = s
        a_t = torch.zeros(bsz, 0, cfg.audio_in_channels, device=device)
    audio_frames = a_t.shape[1]

    fps = batch["fps"].reshape(-1) if "fps" in batch else torch.full((bsz,), 24.0)
    video_coords = _video_coords(transformer, fps, nf, nh, nw, device)
    audio_coords = transformer.audio_rope.prepare_audio_coords(bsz, audio_frames, device)
    mask = batch["prompt_attention_mask"].to(device)
    pred, audio_pred = transformer(
        hidden_states=x_t.to(dtype), audio_hidden_states=a_t.to(dtype),
        encoder_hidden_states=batch["prompt_embeds"].to(device, dtype),
        audio_encoder_hidden_states=batch["audio_prompt_embeds"].to(device, dtype),
        timestep=s * TIMESTEP_SCALE, audio_timestep=sa * TIMESTEP_SCALE,
        sigma=s * TIMESTEP_SCALE, audio_sigma=sa * TIMESTEP_SCALE,
        encoder_attention_mask=mask, audio_encoder_attention_mask=mask,
        num_frames=nf, height=nh, width=nw, fps=float(fps[0]), audio_num_frames=audio_frames,
        video_coords=video_coords, audio_coords=audio_coords,
        isolate_modalities=not has_audio, use_cross_timestep=USE_CROSS_TIMESTEP, return_dict=False,
    )
    loss = torch.nn.functional.mse_loss(pred.float(), target)
    if has_audio:
        loss = loss + torch.nn.functional.mse_loss(audio_pred.float(), a_target)
    return loss


# ---------------------------------------------------------------- sampling

@torch.no_grad()
def generate(pipe, prompt: str, *, width: int, height: int, frames: int, fps: float, steps: int, seed: int,
             device, guidance: bool = True, max_text_tokens: int = 1024) -> dict[str, Any]:
    """Text-to-video+audio with the (LoRA-loaded) pipeline (``parts="all"``).

    ``width``/``height`` multiples of 32, ``frames`` = 8n+1, ``fps`` frames per second, ``steps``
    >= 1 denoising steps, ``seed`` for ``torch.Generator(device).manual_seed``. ``guidance``: the
    pipeline's default guidance (CFG 3 / audio 7, STG 1 on the last block or block 28, modality
    guidance 3, rescale 0.7; several transformer passes per step); ``False``: one conditional pass
    per step. ``max_text_tokens`` must be a multiple of the connector's register count.
    Returns ``{"frames": uint8 (F, H, W, 3), "fps": float, "audio": float32 (channels, samples) or
    None, "sample_rate": int (the vocoder's output rate, 24000) or None}``.
    Raises ValueError for a size not /32 or frames not 8n+1.
    """
    check_size("generate", width, height, frames)
    mult = _text_multiple(pipe)
    if max_text_tokens % mult:
        raise ValueError(f"max_text_tokens={max_text_tokens} must be a multiple of {mult}")
    gen = torch.Generator(device=device).manual_seed(seed)
    kwargs: dict[str, Any] = {}
    if guidance:
        kwargs["spatio_temporal_guidance_blocks"] = [min(28, pipe.transformer.config.num_layers - 1)]
    else:
        kwargs.update(guidance_scale=1.0, audio_guidance_scale=1.0, stg_scale=0.0, audio_stg_scale=0.0,
                      modality_scale=1.0, audio_modality_scale=1.0, guidance_rescale=0.0,
                      audio_guidance_rescale=0.0)
    video, audio = pipe(prompt=prompt, width=width, height=height, num_frames=frames, frame_rate=float(fps),
                        num_inference_steps=steps, generator=gen, output_type="np", return_dict=False,
                        max_sequence_length=max_text_tokens, use_cross_timestep=USE_CROSS_TIMESTEP, **kwargs)
    frames_u8 = np.clip(np.round(np.asarray(video[0], dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    out: dict[str, Any] = {"frames": frames_u8, "fps": float(fps), "audio": None, "sample_rate": None}
    if audio is not None and getattr(pipe, "vocoder", None) is not None:
        out["audio"] = audio[0].float().cpu().numpy().astype(np.float32)
        out["sample_rate"] = int(pipe.vocoder.config.output_sampling_rate)
    return out


class LTX2Model(FamilyModel):
    """LTX-2 model code behind :class:`reelset.families.model.FamilyModel`: this module's functions
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
