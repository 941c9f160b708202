"""The tiny random-config Wan 2.2 TI2V-5B pipeline (nix/models.toml ``tiny-wan2.2``, built by
``tools/make_tiny_models.py wan22``)."""

from __future__ import annotations

from pathlib import Path

from reelset import tinykit

TINY_TEXT_HIDDEN = 32      # UMT5 d_model = transformer text_dim (4096 in TI2V-5B)
TINY_LATENT_CHANNELS = 48  # Wan 2.2 VAE z_dim, as the real one


def make(out: Path) -> None:
    """Write a tiny random-config Wan 2.2 TI2V-5B diffusers pipeline into ``out`` (about 4 MB,
    float32, deterministic: ``tinykit.SEED``, one torch thread), loadable by ``WanPipeline.from_pretrained``:
    ``vae/`` AutoencoderKLWan with TI2V-5B's layout (z_dim 48, is_residual, patch 2, 12 in/out
    channels, 16x spatial / 4x temporal, dim_mult 1-2-4-4) at base width 8, one res block per stage,
    latents_mean 0 / latents_std 1; ``transformer/`` WanTransformer3DModel (2 blocks of 2 x 12,
    in/out 48, patch (1, 2, 2), text_dim 32); ``text_encoder/`` UMT5 (2 layers, d_model 32) and the
    T5 tokenizer of ``tinykit.make_t5_tokenizer``; ``scheduler/`` UniPC flow sigmas, shift 5.0
    (TI2V-5B's sample_shift); ``model_index.json`` with ``expand_timesteps = true``."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(tinykit.SEED)
    torch.set_num_threads(1)
    tok = tinykit.make_t5_tokenizer()
    text_config = UMT5Config(
        vocab_size=len(tok), d_model=TINY_TEXT_HIDDEN, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id)
    text_config.architectures = ["UMT5EncoderModel"]
    text_encoder = UMT5EncoderModel(text_config).eval()
    vae = AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=TINY_LATENT_CHANNELS, dim_mult=[1, 2, 4, 4],
                           num_res_blocks=1, attn_scales=[], temperal_downsample=[False, True, True], is_residual=True,
                           in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
                           scale_factor_temporal=4, latents_mean=[0.0] * TINY_LATENT_CHANNELS,
                           latents_std=[1.0] * TINY_LATENT_CHANNELS)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS, text_dim=TINY_TEXT_HIDDEN, freq_dim=256, ffn_dim=48, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0,
        solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True, final_sigmas_type="zero",
        timestep_spacing="linspace", beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer,
                       expand_timesteps=True)
    pipe.save_pretrained(out, safe_serialization=True)
