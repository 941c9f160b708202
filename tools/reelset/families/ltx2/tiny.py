"""The tiny random-config LTX-2 pipeline (nix/models.toml ``tiny-ltx2``, built by
``tools/make_tiny_models.py ltx2``).

An LTX-2 diffusers pipeline directory (``LTX2Pipeline.save_pretrained`` layout, like the
hub's ``Lightricks/LTX-2`` diffusers repository), loadable by the real code path
``diffusers.LTX2Pipeline.from_pretrained(dir)`` (diffusers 0.42.1); about 5 MB, float32,
loads in well under a second once diffusers is imported:

- ``transformer/``: ``LTX2VideoTransformer3DModel``, 2 blocks, video and audio streams of
  width 24 (2 heads x 12), ``in_channels`` 8 (= video latent channels), ``audio_in_channels``
  16 (= audio latent channels 4 x latent mel bins 4), ``caption_channels`` 32.
- ``vae/``: ``AutoencoderKLLTX2Video`` with LTX-2's four down blocks (patch 4, spatial,
  temporal, 2x spatiotemporal; channels 8-16-32-32, one layer each), 8 latent channels, so
  the factors are LTX-2's: **32x spatial, 8x causal temporal**: a W x H x F clip
  (W, H multiples of 32, F = 8n+1) gives latents (8, (F-1)/8+1, H/32, W/32)
  (LTX-2: 128 channels). ``latents_mean`` 0 / ``latents_std`` 1 / ``scaling_factor`` 1.
- ``audio_vae/``: ``AutoencoderKLLTX2Audio`` (pixel norm, channels 16-32-64, 4 latent
  channels, 16 mel bins, 16 kHz, hop 160; time and mel downsampled 4x), so 25 latent steps
  per second of 4 x 4 values (LTX-2: 8 channels x 16 mel bins of 64). ``base_channels`` must
  equal latent channels x latent mel bins because ``latents_mean/std`` normalise that packed axis.
- ``vocoder/``: ``LTX2Vocoder`` (hidden 32, upsampling 6 x 5 x 8 = 240 = hop 160 x 24 kHz /
  16 kHz), stereo 24 kHz output as in LTX-2.
- ``text_encoder/``: ``Gemma3ForConditionalGeneration`` (2 text layers, hidden 32, 2 heads /
  1 KV head, head dim 16; a 1-layer SigLIP tower of width 16, 28 px images, 4 tokens per image
  that the pipeline never uses); ``connectors/``: ``LTX2TextConnectors`` reading all 3 hidden
  states (``text_proj_in_factor`` 3), 1 layer of 2 x 16 per modality, **8 learnable
  registers**, so the text length (``max_sequence_length``) must be a multiple of 8 (128 in LTX-2).
- ``tokenizer/``: ``GemmaTokenizer`` (byte-fallback BPE) trained locally on :data:`CORPUS`
  to 400 tokens with Gemma's special tokens (``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2, ``<unk>`` 3,
  ``<mask>`` 4, image and turn markers), ``<bos>`` prepended, left padding.
- ``scheduler/``: ``FlowMatchEulerDiscreteScheduler`` with LTX-2's token-count-dependent
  shift (``use_dynamic_shifting``, shift 0.95 at 1024 tokens .. 2.05 at 4096).

Weights from ``torch.manual_seed(SEED)``; the video is noise and the audio a hum.
"""

from __future__ import annotations

from pathlib import Path

from reelset.tinykit import CORPUS, SEED

# Tiny LTX-2 sizes (see the module docstring).
LTX2_TEXT_HIDDEN = 32          # Gemma-3 hidden size = connector caption_channels (3840 in LTX-2)
LTX2_TEXT_LAYERS = 2           # Gemma-3 layers; the connector reads all LTX2_TEXT_LAYERS + 1 hidden states
LTX2_REGISTERS = 8             # connector learnable registers: text length must be a multiple (128 in LTX-2)
LTX2_VIDEO_LATENT_CHANNELS = 8     # 128 in LTX-2
LTX2_AUDIO_LATENT_CHANNELS = 4     # 8 in LTX-2
LTX2_MEL_BINS = 16                 # 64 in LTX-2; latent mel bins = MEL_BINS / 4
LTX2_GEMMA_SPECIAL = ["<start_of_image>", "<end_of_image>", "<image_soft_token>",
                      "<start_of_turn>", "<end_of_turn>"]


def make_gemma_tokenizer():
    """Gemma-style BPE (``GemmaTokenizer``: byte fallback, ``▁`` for spaces) trained locally on
    :data:`CORPUS` to 400 tokens; ``<pad>``=0, ``<eos>``=1, ``<bos>``=2, ``<unk>``=3, ``<mask>``=4
    as in Gemma, plus :data:`LTX2_GEMMA_SPECIAL`; prepends ``<bos>``; left padding (what LTX-2 uses)."""
    from transformers import GemmaTokenizer

    seed_tok = GemmaTokenizer()
    tok = seed_tok.train_new_from_iterator(CORPUS.splitlines(), vocab_size=400,
                                           new_special_tokens=LTX2_GEMMA_SPECIAL)
    tok.add_bos_token = True  # Gemma prepends <bos>
    tok.update_post_processor()
    tok.padding_side = "left"
    tok.model_max_length = 1024
    return tok


def make(out: Path) -> None:
    """Write the tiny LTX-2 diffusers pipeline directory (see the module docstring) into ``out``."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    tok = make_gemma_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in LTX2_GEMMA_SPECIAL}
    text_config = Gemma3Config(
        text_config=dict(
            vocab_size=len(tok), hidden_size=LTX2_TEXT_HIDDEN, intermediate_size=64,
            num_hidden_layers=LTX2_TEXT_LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            max_position_embeddings=2048, sliding_window=64, layer_types=["sliding_attention", "full_attention"],
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        ),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14),
        mm_tokens_per_image=4, boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    text_config.architectures = ["Gemma3ForConditionalGeneration"]
    text_encoder = Gemma3ForConditionalGeneration(text_config).eval()

    connectors = LTX2TextConnectors(
        caption_channels=LTX2_TEXT_HIDDEN, text_proj_in_factor=LTX2_TEXT_LAYERS + 1,
        video_connector_num_attention_heads=2, video_connector_attention_head_dim=16, video_connector_num_layers=1,
        video_connector_num_learnable_registers=LTX2_REGISTERS,
        audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=16, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=LTX2_REGISTERS,
        connector_rope_base_seq_len=1024,
    )
    # four down blocks (patch 4, then spatial, temporal, 2x spatiotemporal) keep LTX-2's 32x/8x factors
    vae = AutoencoderKLLTX2Video(
        latent_channels=LTX2_VIDEO_LATENT_CHANNELS, block_out_channels=(8, 16, 32, 32),
        decoder_block_out_channels=(8, 16, 32), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1), spatial_compression_ratio=32, temporal_compression_ratio=8,
    )
    latent_mel = LTX2_MEL_BINS // 4
    # latents_mean/std have base_channels entries and normalise the packed (channels * latent mel) axis,
    # so base_channels must equal AUDIO_LATENT_CHANNELS * latent mel bins (8 * 16 = 128 in LTX-2)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=LTX2_AUDIO_LATENT_CHANNELS * latent_mel, ch_mult=(1, 2, 4), num_res_blocks=1,
        latent_channels=LTX2_AUDIO_LATENT_CHANNELS, mel_bins=LTX2_MEL_BINS, sample_rate=16000, mel_hop_length=160,
    )
    # 6*5*8 = 240 output samples per mel frame = 160 hop * 24000 / 16000, as in LTX-2's vocoder
    vocoder = LTX2Vocoder(in_channels=2 * LTX2_MEL_BINS, hidden_channels=32, out_channels=2,
                          upsample_kernel_sizes=[12, 10, 16], upsample_factors=[6, 5, 8],
                          resnet_kernel_sizes=[3], resnet_dilations=[[1, 3]], output_sampling_rate=24000)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=LTX2_VIDEO_LATENT_CHANNELS, out_channels=LTX2_VIDEO_LATENT_CHANNELS,
        num_attention_heads=2, attention_head_dim=12, cross_attention_dim=24,
        audio_in_channels=LTX2_AUDIO_LATENT_CHANNELS * latent_mel, audio_out_channels=LTX2_AUDIO_LATENT_CHANNELS * latent_mel,
        audio_num_attention_heads=2, audio_attention_head_dim=12, audio_cross_attention_dim=24,
        num_layers=2, caption_channels=LTX2_TEXT_HIDDEN,
    )
    # FlowMatchEulerDiscreteScheduler with LTX-2's resolution-dependent shift (mu from the token count)
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096)
    pipe = LTX2Pipeline(scheduler=scheduler, vae=vae, audio_vae=audio_vae, text_encoder=text_encoder, tokenizer=tok,
                        connectors=connectors, transformer=transformer, vocoder=vocoder)
    pipe.save_pretrained(out, safe_serialization=True)
