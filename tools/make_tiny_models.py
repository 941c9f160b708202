"""Write tiny random-weight model directories for tests and the demo (deterministic).

Kinds (first argument):

``qwen2.5-vl``
    A Qwen2.5-VL checkpoint directory in the layout of the hub's ``Qwen/Qwen2.5-VL-*``
    repositories, loadable by the real code paths ``AutoProcessor.from_pretrained(dir)`` and
    ``Qwen2_5_VLForConditionalGeneration.from_pretrained(dir)``:

    - ``config.json`` + ``model.safetensors``: ``Qwen2_5_VLConfig`` with 2 text layers
      (hidden 64, 4 heads, 2 KV heads, head dim 16, M-RoPE sections [2, 3, 3] = head_dim / 2),
      a 2-block vision tower (hidden 32, patch 14, spatial merge 2, temporal patch 2,
      window 112) projecting to the text width; weights from ``torch.manual_seed(SEED)``
      (about 0.2 M parameters, float32). ``generation_config.json``.
    - tokenizer (``tokenizer.json`` etc.): a byte-level BPE trained locally (no download)
      by ``Qwen2TokenizerFast.train_new_from_iterator`` on :data:`CORPUS` (fixed text in
      this file) to :data:`VOCAB_SIZE` tokens, plus Qwen2.5-VL's special tokens
      (:data:`SPECIAL_TOKENS`: ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``,
      ``<|vision_start|>``, ``<|vision_end|>``, ``<|image_pad|>``, ``<|video_pad|>``), whose
      ids are written into the model config (image/video/vision-start token ids, eos/pad).
    - ``preprocessor_config.json`` / ``video_preprocessor_config.json`` /
      ``processor_config.json``: ``Qwen2VLImageProcessor`` + ``Qwen2VLVideoProcessor`` with
      small pixel bounds (:data:`MIN_PIXELS`..:data:`MAX_PIXELS`, i.e. 4..64 merged 28x28
      patches), and ``chat_template.jinja``: the chat template of Qwen/Qwen2.5-VL-7B-Instruct
      (:data:`CHAT_TEMPLATE`, copied verbatim from its ``chat_template.json``).

    Random weights produce random tokens: the model exercises loading, preprocessing of
    images and videos (qwen-vl-utils), generation and the callers' handling of unusable
    output. It knows nothing.

``qwen2.5-omni-thinker``
    A Qwen2.5-Omni **thinker** checkpoint (``model_type`` ``qwen2_5_omni_thinker``; the part of
    ``Qwen/Qwen2.5-Omni-7B`` that reads text, images, video and audio and writes text; no talker),
    loadable by ``AutoProcessor.from_pretrained(dir)`` (``Qwen2_5OmniProcessor``) and
    ``Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(dir)``; about 0.23 M parameters
    (0.9 MB float32):

    - text: 2 layers, hidden 64, 4 heads / 2 KV heads, head dim 16, M-RoPE sections [2, 3, 3];
      vision: as the tiny Qwen2.5-VL (2 blocks of 32, patch 14, merge 2); audio encoder: 2 layers
      of width 32 (2 heads, FFN 64) over 128 mel bins (two convolutions: one token per 40 ms),
      projected to 64.
    - tokenizer: as above with Qwen2.5-Omni's special tokens (:data:`OMNI_SPECIAL_TOKENS`:
      ``<|AUDIO|>``, ``<|audio_bos|>``/``<|audio_eos|>``, ``<|vision_bos|>``/``<|vision_eos|>``,
      ``<|IMAGE|>``, ``<|VIDEO|>``), named in tokenizer_config.json (``audio_token`` …: the
      processor requires the names).
    - processor: ``Qwen2VLImageProcessor`` + ``Qwen2VLVideoProcessor`` (the tiny pixel bounds) +
      ``WhisperFeatureExtractor`` (128 mel bins, 16 kHz, hop 160, 30 s: Qwen2.5-Omni's), and a
      chat template of Qwen2.5-Omni's form (:data:`OMNI_CHAT_TEMPLATE`: audio parts become
      ``<|audio_bos|><|AUDIO|><|audio_eos|>``).

``qwen3-omni-moe-thinker``
    A Qwen3-Omni (MoE) **thinker** checkpoint (``qwen3_omni_moe_thinker``;
    ``Qwen3OmniMoeThinkerForConditionalGeneration``, ``Qwen3OmniMoeProcessor``): text 2 layers of
    64 with 4 experts of 32 (2 per token), interleaved M-RoPE [2, 3, 3]; vision as the tiny
    Qwen3-VL (patch 16, deepstack); audio encoder 2 layers of 32 over 128 mel bins (three stride-2
    convolutions: one token per 80 ms); Qwen3-Omni's special tokens (:data:`QWEN3_OMNI_SPECIAL_TOKENS`,
    named) and chat template form (:data:`QWEN3_OMNI_CHAT_TEMPLATE`). About 0.30 M parameters.

``qwen3-vl``
    A Qwen3-VL checkpoint (``Qwen3VLForConditionalGeneration``, ``Qwen3VLProcessor``): text 2
    layers of 64 (head dim 16, interleaved M-RoPE [2, 3, 3]), vision 2 blocks of 32 with
    **patch 16** (Qwen3-VL's; one merged token per 32x32 pixels, pixel bounds 4..64 tokens),
    deepstack features from block 0, 64 learned position embeddings; the Qwen2.5-VL tokenizer and
    chat template above (Qwen3VLProcessor adds the frame timestamps itself). About 0.23 M
    parameters.

``wavlm-xvector``
    A speaker-verification checkpoint in the layout of the hub's ``microsoft/wavlm-base-plus-sv``
    (``config.json`` + ``model.safetensors`` + ``preprocessor_config.json``), loadable by the real
    code path ``transformers.WavLMForXVector.from_pretrained(dir)`` (reelset.voice): 3 conv
    feature layers (16 channels, stride 5-4-4: one frame per 80 samples = 5 ms at 16 kHz), 2
    transformer layers of width 32 (2 heads) with WavLM's gated relative position buckets, a
    3-layer TDNN (16-16-32) and a 16-dimensional x-vector (base-plus-sv: 7 conv layers of 512,
    12 layers of 768, 512-dimensional x-vector); about 60 k parameters. Its embeddings are random
    projections: it proves the loading and embedding path, not the attribution.

Determinism: fixed seed, single-threaded torch and tokenizers (``TOKENIZERS_PARALLELISM``
off, one torch thread), no timestamps in the files, so two runs with the same library
versions write byte-identical directories (tests/test_vlm.py, tests/test_ltx2_model.py and
tests/test_wan21_model.py check it). Nix builds it as a
plain derivation (``builder = "make_tiny_models.py"`` in nix/models.toml).

Other kinds: the model families' own recipes (``Family.tiny``, reelset/families/<name>/tiny.py:
``ltx2``, ``wan2.1``, ``wan22``, whose docstrings describe them); the seed, corpus and T5 tokenizer
every recipe shares are in :mod:`reelset.tinykit`.

Usage: ``python tools/make_tiny_models.py {qwen2.5-vl,qwen2.5-omni-thinker,qwen3-omni-moe-thinker,qwen3-vl,ltx2,wan2.1,wavlm-xvector,<family kind>} --out DIR`` (``--out`` defaults to the
environment variable ``out``, as set by Nix). Errors (exit status 2): unknown kind, no
output directory, output directory not empty.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Nix builds have HOME=/homeless-shelter: caches go to the build's temp dir
if not os.access(os.environ.get("HOME", "/nonexistent"), os.W_OK):
    os.environ["HOME"] = os.environ.get("TMPDIR", "/tmp")

from reelset.tinykit import CORPUS, SEED  # noqa: E402

VOCAB_SIZE = 600
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 64 * 28 * 28

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]


# chat_template.json of Qwen/Qwen2.5-VL-7B-Instruct (revision cc594898137f460bfe9f0759e9844b3ce807cfb5).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(special_tokens: list[str] = SPECIAL_TOKENS, named: dict[str, str] | None = None):
    """Byte-level BPE (Qwen2's pre-tokenizer) trained on :data:`CORPUS`; returns a
    ``Qwen2TokenizerFast`` with ``special_tokens`` (default :data:`SPECIAL_TOKENS`; the first is
    ``<|endoftext|>``) registered as special tokens. ``named``: model-specific named special
    tokens saved in tokenizer_config.json (``audio_token`` …), which processors such as
    Qwen2.5-Omni's require as tokenizer attributes."""
    from transformers import Qwen2TokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = {ch: i for i, ch in enumerate(sorted(bytes_to_unicode().values()))}
    seed_tok = Qwen2TokenizerFast(vocab=alphabet, merges=[])
    tok = seed_tok.train_new_from_iterator(CORPUS.splitlines(), vocab_size=VOCAB_SIZE, new_special_tokens=special_tokens)
    tok.add_special_tokens({"additional_special_tokens": special_tokens[1:],
                            "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    tok.unk_token = None
    # the processor reads these attributes for its placeholder tokens
    for attr, value in {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}.items():
        setattr(tok, attr, value)
    if named:
        tok._set_model_specific_special_tokens(special_tokens=named)
    tok.model_max_length = 32768
    tok.padding_side = "left"
    return tok


def save_qwen(out: Path, model, ids: dict[str, int], tok, processor_cls, video_processor_cls, patch: int,
              pixels: tuple[int, int], chat_template: str, audio: bool = False) -> None:
    """Save a tiny Qwen-family model into ``out`` with greedy generation (end at <|im_end|> or
    <|endoftext|>) and its processor: image and video processors of patch ``patch`` pixels, merge 2,
    temporal patch 2, frames of ``pixels`` = (fewest, most) pixels; with ``audio``, Whisper log-mel
    features (128 bins, 16 kHz, 10 ms hop: the Omni thinkers' audio input)."""
    from transformers import GenerationConfig, Qwen2VLImageProcessor, WhisperFeatureExtractor

    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"], do_sample=False)
    model.save_pretrained(out, safe_serialization=True)
    size = {"shortest_edge": pixels[0], "longest_edge": pixels[1]}
    parts = {"image_processor": Qwen2VLImageProcessor(size=size, patch_size=patch, temporal_patch_size=2, merge_size=2),
             "video_processor": video_processor_cls(size=size, patch_size=patch, temporal_patch_size=2, merge_size=2)}
    if audio:
        parts["feature_extractor"] = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160,
                                                             chunk_length=30, n_fft=400, padding_value=0.0,
                                                             return_attention_mask=True)
    processor_cls(**parts, tokenizer=tok, chat_template=chat_template).save_pretrained(out)


def make_qwen25_vl(out: Path) -> None:
    """Write the tiny Qwen2.5-VL directory (see the module docstring) into ``out``."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLVideoProcessor,
    )

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    tok = make_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    hidden = 64
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, max_window_layers=2,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1],
            tokens_per_second=2,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    config.architectures = ["Qwen2_5_VLForConditionalGeneration"]
    model = Qwen2_5_VLForConditionalGeneration(config).eval()

    save_qwen(out, model, ids, tok, Qwen2_5_VLProcessor, Qwen2VLVideoProcessor, 14, (MIN_PIXELS, MAX_PIXELS), CHAT_TEMPLATE)


# Qwen2.5-Omni's special tokens (its tokenizer_config.json names them; the processor needs the names)
OMNI_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
                       "<|vision_bos|>", "<|vision_eos|>", "<|IMAGE|>", "<|VIDEO|>"]
OMNI_NAMED_TOKENS = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
                     "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
                     "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}

# The chat template of Qwen/Qwen2.5-Omni-7B in structure: Qwen2.5-VL's, with Omni's placeholders
# (<|vision_bos|><|IMAGE|><|vision_eos|>, …) and audio parts (<|audio_bos|><|AUDIO|><|audio_eos|>).
OMNI_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}{% if add_audio_id %}Audio {{ audio_count.value }}: {% endif %}"
    "<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_qwen25_omni_thinker(out: Path) -> None:
    """Write the tiny Qwen2.5-Omni thinker directory (see the module docstring) into ``out``."""
    import torch
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2VLVideoProcessor,
    )

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    tok = make_tokenizer(OMNI_SPECIAL_TOKENS, OMNI_NAMED_TOKENS)
    ids = {t: tok.convert_tokens_to_ids(t) for t in OMNI_SPECIAL_TOKENS}
    hidden = 64
    config = Qwen2_5OmniThinkerConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, max_window_layers=2,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1],
        ),
        # 128 mel bins as Whisper large-v3 / Qwen2.5-Omni's feature extractor; two conv layers halve the frames
        audio_config=dict(
            num_mel_bins=128, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32,
            max_source_positions=1500, n_window=100, output_dim=hidden,
        ),
        audio_token_index=ids["<|AUDIO|>"], image_token_index=ids["<|IMAGE|>"], video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"], audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"], vision_end_token_id=ids["<|vision_eos|>"],
        user_token_id=tok.encode("user")[0], position_id_per_seconds=25, seconds_per_chunk=2,
        tie_word_embeddings=True,
    )
    config.architectures = ["Qwen2_5OmniThinkerForConditionalGeneration"]
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()

    save_qwen(out, model, ids, tok, Qwen2_5OmniProcessor, Qwen2VLVideoProcessor, 14, (MIN_PIXELS, MAX_PIXELS),
              OMNI_CHAT_TEMPLATE, audio=True)


# Qwen3-Omni's special tokens: Qwen3-VL's vision markers plus <|audio_start|><|audio_pad|><|audio_end|>
QWEN3_OMNI_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_start|>", "<|audio_end|>",
                             "<|audio_pad|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
QWEN3_OMNI_NAMED_TOKENS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "audio_token": "<|audio_pad|>",
                           "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>",
                           "audio_bos_token": "<|audio_start|>", "audio_eos_token": "<|audio_end|>"}
# the Omni chat template with Qwen3-Omni's placeholders
QWEN3_OMNI_CHAT_TEMPLATE = (OMNI_CHAT_TEMPLATE.replace("<|vision_bos|>", "<|vision_start|>")
                            .replace("<|vision_eos|>", "<|vision_end|>").replace("<|IMAGE|>", "<|image_pad|>")
                            .replace("<|VIDEO|>", "<|video_pad|>").replace("<|audio_bos|>", "<|audio_start|>")
                            .replace("<|audio_eos|>", "<|audio_end|>").replace("<|AUDIO|>", "<|audio_pad|>"))


def make_qwen3_omni_moe_thinker(out: Path) -> None:
    """Write the tiny Qwen3-Omni (MoE) thinker directory (see the module docstring) into ``out``."""
    import torch
    from transformers import (
        Qwen3OmniMoeProcessor,
        Qwen3OmniMoeThinkerConfig,
        Qwen3OmniMoeThinkerForConditionalGeneration,
        Qwen3VLVideoProcessor,
    )

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    tok = make_tokenizer(QWEN3_OMNI_SPECIAL_TOKENS, QWEN3_OMNI_NAMED_TOKENS)
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN3_OMNI_SPECIAL_TOKENS}
    hidden = 64
    config = Qwen3OmniMoeThinkerConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
            moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3],
                             "interleaved": True},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden, patch_size=16,
            spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0],
        ),
        # Qwen3-Omni's audio encoder: 128 mel bins, three stride-2 convolutions (one token per 80 ms)
        audio_config=dict(
            num_mel_bins=128, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32,
            output_dim=hidden, downsample_hidden_size=16, max_source_positions=1500, n_window=50,
        ),
        audio_token_id=ids["<|audio_pad|>"], image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        audio_start_token_id=ids["<|audio_start|>"], vision_start_token_id=ids["<|vision_start|>"],
        user_token_id=tok.encode("user")[0], position_id_per_seconds=13,
    )
    config.architectures = ["Qwen3OmniMoeThinkerForConditionalGeneration"]
    model = Qwen3OmniMoeThinkerForConditionalGeneration(config).eval()

    save_qwen(out, model, ids, tok, Qwen3OmniMoeProcessor, Qwen3VLVideoProcessor, 16, (QWEN3_MIN_PIXELS, QWEN3_MAX_PIXELS),
              QWEN3_OMNI_CHAT_TEMPLATE, audio=True)


def make_qwen3_vl(out: Path) -> None:
    """Write the tiny Qwen3-VL directory (see the module docstring) into ``out``."""
    import torch
    from transformers import (
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    tok = make_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    hidden = 64
    config = Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [2, 3, 3],
                             "mrope_interleaved": True},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=True,
        ),
        # patch 16 (Qwen2.5-VL: 14): one merged token per 32x32 pixels; deepstack features from block 0
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden, patch_size=16,
            spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    config.architectures = ["Qwen3VLForConditionalGeneration"]
    model = Qwen3VLForConditionalGeneration(config).eval()

    save_qwen(out, model, ids, tok, Qwen3VLProcessor, Qwen3VLVideoProcessor, 16, (QWEN3_MIN_PIXELS, QWEN3_MAX_PIXELS),
              CHAT_TEMPLATE)


QWEN3_MIN_PIXELS = 4 * 32 * 32     # Qwen3-VL: patch 16 x merge 2
QWEN3_MAX_PIXELS = 64 * 32 * 32


def make_wavlm_xvector(out: Path) -> None:
    """Write the tiny WavLMForXVector directory (see the module docstring) into ``out``."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    config = WavLMConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, tdnn_dim=(16, 16, 32), tdnn_kernel=(5, 3, 1), tdnn_dilation=(1, 2, 1),
        xvector_output_dim=16, num_buckets=32, max_bucket_distance=100, do_stable_layer_norm=False,
    )
    config.architectures = ["WavLMForXVector"]
    WavLMForXVector(config).eval().save_pretrained(out, safe_serialization=True)
    # microsoft/wavlm-base-plus-sv's preprocessor: 16 kHz, zero-mean unit-variance per utterance
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(out)


KINDS = {"qwen2.5-vl": make_qwen25_vl, "qwen2.5-omni-thinker": make_qwen25_omni_thinker, "qwen3-vl": make_qwen3_vl,
         "qwen3-omni-moe-thinker": make_qwen3_omni_moe_thinker, "wavlm-xvector": make_wavlm_xvector}


def family_kinds() -> dict:
    """Kinds a model family writes itself (``Family.tiny.recipe``: ``reelset/families/<name>/tiny.py``
    ``make(out)``, which builds on :mod:`reelset.tinykit`), by kind."""
    from reelset import families

    return {f.tiny.kind: f.tiny.make for f in families.every() if f.tiny.recipe}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kinds = {**KINDS, **family_kinds()}
    ap.add_argument("kind", choices=sorted(kinds))
    ap.add_argument("--out", default=os.environ.get("out"), help="output directory (default: $out)")
    args = ap.parse_args(argv)
    if not args.out:
        print("make_tiny_models.py: no output directory: pass --out DIR (or set $out)", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"make_tiny_models.py: {out} is not empty; give a new or empty directory", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    kinds[args.kind](out)
    print(f"make_tiny_models.py: wrote {args.kind} to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
