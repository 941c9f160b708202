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

Determinism: fixed seed, single-threaded torch and tokenizers (``TOKENIZERS_PARALLELISM``
off, one torch thread), no timestamps in the files, so two runs with the same library
versions write byte-identical directories (tests/test_vlm.py checks it). Nix builds it as a
plain derivation (``builder = "make_tiny_models.py"`` in nix/models.toml).

Usage: ``python tools/make_tiny_models.py qwen2.5-vl --out DIR`` (``--out`` defaults to the
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

SEED = 20240611
VOCAB_SIZE = 600
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 64 * 28 * 28

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]

# Training text of the tiny tokenizer: prompt- and JSON-like English, so common words become
# single tokens. Changing it changes the tokenizer (and the model's hash).
CORPUS = """\
You are a helpful assistant. Answer with one JSON object and nothing else.
{"speaker": "unknown", "confidence": 0.0, "text": "the package is in Moscow", "edits": []}
{"speaker": "Archer", "confidence": 0.9, "text": "my name is Archer", "reason": "reference shot"}
The series bible lists the characters, their aliases, places and glossary terms.
Who is speaking in this segment? Look at the frames and the reference shots.
Correct the transcript: names of characters and places must be spelled as in the bible.
A person stands in a room. The camera pans left. Two people talk at a table.
Lana, the package is in Moscow. Cyril has the keys. Malory is in the office.
The quick brown fox jumps over the lazy dog. 0123456789 . , : ; ! ? ' " ( ) [ ] { } - _ /
Caption: a woman in a red dress walks through a door; the light is warm; close-up shot.
"""

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


def make_tokenizer():
    """Byte-level BPE (Qwen2's pre-tokenizer) trained on :data:`CORPUS`; returns a
    ``Qwen2TokenizerFast`` with :data:`SPECIAL_TOKENS` registered as special tokens."""
    from transformers import Qwen2TokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = {ch: i for i, ch in enumerate(sorted(bytes_to_unicode().values()))}
    seed_tok = Qwen2TokenizerFast(vocab=alphabet, merges=[])
    tok = seed_tok.train_new_from_iterator(CORPUS.splitlines(), vocab_size=VOCAB_SIZE, new_special_tokens=SPECIAL_TOKENS)
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:],
                            "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    tok.unk_token = None
    # the processor reads these attributes for its placeholder tokens
    for attr, value in {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}.items():
        setattr(tok, attr, value)
    tok.model_max_length = 32768
    tok.padding_side = "left"
    return tok


def make_qwen25_vl(out: Path) -> None:
    """Write the tiny Qwen2.5-VL directory (see the module docstring) into ``out``."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
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
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"], do_sample=False)
    model.save_pretrained(out, safe_serialization=True)

    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, patch_size=14, temporal_patch_size=2, merge_size=2),
        video_processor=Qwen2VLVideoProcessor(size=size, patch_size=14, temporal_patch_size=2, merge_size=2),
        tokenizer=tok, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)


KINDS = {"qwen2.5-vl": make_qwen25_vl}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=sorted(KINDS))
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
    KINDS[args.kind](out)
    print(f"make_tiny_models.py: wrote {args.kind} to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
