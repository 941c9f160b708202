"""The tiny random-config Wan 2.1 T2V pipeline (nix/models.toml ``tiny-wan2.1``, built by
``tools/make_tiny_models.py wan2.1``).

A Wan 2.1 text-to-video diffusers pipeline directory in the layout of the hub's
``Wan-AI/Wan2.1-T2V-1.3B-Diffusers`` (``model_index.json``, ``transformer/``, ``vae/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/``; ``WanPipeline.save_pretrained``), loadable by
the real code path ``diffusers.WanPipeline.from_pretrained(dir)`` (diffusers 0.42.1); about
3 MB, float32, loads in about a second once diffusers is imported:

- ``transformer/``: ``WanTransformer3DModel``, 2 blocks of width 24 (2 heads x 12), FFN 48,
  patch (1, 2, 2), ``in_channels`` = ``out_channels`` 16, ``text_dim`` 32, ``freq_dim`` 256,
  RMS q/k norm across heads, cross-attention norm (Wan 2.1 1.3B: 30 blocks of 12 x 128).
- ``vae/``: ``AutoencoderKLWan`` with Wan 2.1's stage layout (``dim_mult`` 1-2-4-4, temporal
  downsampling in the last two stages) at base width 8 with one res block per stage,
  **16 latent channels** (``z_dim``, as in Wan 2.1) and Wan 2.1's ``latents_mean/std``, so the
  factors are Wan 2.1's: **8x spatial, 4x causal temporal**: a W x H x F clip (W, H multiples
  of 16 for the 2x2 patch, F = 4n+1) gives latents (16, (F-1)/4+1, H/8, W/8).
- ``text_encoder/``: ``UMT5EncoderModel`` (2 layers, d_model 32, 4 heads of 8, gated-GELU FFN
  64; umt5-xxl: 24 layers, d_model 4096).
- ``tokenizer/``: ``T5TokenizerFast`` (Unigram, Metaspace ``▁``, ``</s>`` appended; ``<pad>`` 0,
  ``</s>`` 1, ``<unk>`` 2) whose vocabulary (every word and character of :data:`CORPUS`, scored
  by log frequency) is computed here, not trained (the Unigram trainer is not reproducible).
- ``scheduler/``: ``UniPCMultistepScheduler`` with the settings of the hub repositories'
  ``scheduler_config.json``: flow prediction, ``use_flow_sigmas``, ``flow_shift`` 3.0, order 2,
  bh2, ``final_sigmas_type`` zero.

Weights from ``torch.manual_seed(SEED)``; the video is noise.
"""

from __future__ import annotations

from pathlib import Path

from reelset.tinykit import SEED, make_t5_tokenizer

# Tiny Wan 2.1 sizes (see the module docstring).
WAN21_TEXT_HIDDEN = 32         # UMT5 d_model = transformer text_dim (4096 in Wan 2.1)
WAN21_LATENT_CHANNELS = 16     # VAE z_dim = transformer in/out channels (16 in Wan 2.1 too)


def make(out: Path) -> None:
    """Write the tiny Wan 2.1 T2V diffusers pipeline directory (see the module docstring) into ``out``."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    tok = make_t5_tokenizer()
    text_config = UMT5Config(
        vocab_size=len(tok), d_model=WAN21_TEXT_HIDDEN, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
    )
    text_config.architectures = ["UMT5EncoderModel"]
    text_encoder = UMT5EncoderModel(text_config).eval()
    # Wan 2.1's VAE layout (dim_mult 1-2-4-4, temporal downsampling in the last two stages, z_dim 16,
    # its latents_mean/std defaults) at base width 8 and one res block per stage: 8x spatial, 4x causal temporal
    vae = AutoencoderKLWan(base_dim=8, z_dim=WAN21_LATENT_CHANNELS, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                           attn_scales=[], temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=WAN21_LATENT_CHANNELS,
        out_channels=WAN21_LATENT_CHANNELS, text_dim=WAN21_TEXT_HIDDEN, freq_dim=256, ffn_dim=48, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
    )
    # scheduler/scheduler_config.json of Wan-AI/Wan2.1-T2V-*-Diffusers (UniPC, flow sigmas, shift 3.0)
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
        solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True, final_sigmas_type="zero",
        timestep_spacing="linspace", beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
    )
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer)
    pipe.save_pretrained(out, safe_serialization=True)
