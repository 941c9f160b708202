"""What every tiny random-config test model shares (tools/make_tiny_models.py and the model
families' own recipes, reelset/families/<name>/tiny.py): the seed, the tokenizer training corpus and
the T5 tokenizer of the UMT5 text encoders (Wan 2.1, Wan 2.2). Determinism: a fixed seed, no
timestamps; the tokenizers are computed or trained from :data:`CORPUS` only, nothing downloaded.
"""

from __future__ import annotations

SEED = 20240611

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


def make_t5_tokenizer():
    """T5-style Unigram tokenizer (``T5TokenizerFast``: Metaspace ``▁`` pre-tokenizer, ``</s>``
    appended, ``<pad>``=0, ``</s>``=1, ``<unk>``=2 as in T5/UMT5) with a vocabulary computed here
    from :data:`CORPUS` rather than trained (the ``tokenizers`` Unigram trainer is not
    reproducible across runs): every ``▁word`` and every character of the corpus, scored by
    log relative frequency (rounded to 6 decimals). No ``<extra_id_N>`` sentinels (the pipeline
    never uses them); right padding (what Wan 2.1 uses)."""
    import math
    from collections import Counter

    from transformers import T5TokenizerFast

    words = Counter("\u2581" + w for w in CORPUS.split())
    chars = Counter(ch for w in CORPUS.split() for ch in w)
    chars["\u2581"] = sum(words.values())
    total = sum(words.values()) + sum(chars.values())
    pieces = sorted(((p, round(math.log(n / total), 6)) for p, n in (words + chars).items()),
                    key=lambda ps: (-ps[1], ps[0]))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + pieces
    tok = T5TokenizerFast(vocab=vocab, extra_ids=0)
    tok.padding_side = "right"
    tok.model_max_length = 512
    return tok
