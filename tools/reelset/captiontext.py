"""Caption text helpers shared by step2-caption, step2-reviewed and the review server:
caption hashes, word counts, the trigger word and which bible characters a caption names.

LTX-2 captions may come in the sections of the LTX-2 trainer's captioner (``[VISUAL]: …
[SPEECH]: …``, :func:`reelset.package.sectioned_caption`); :func:`picture_part` gives back the
picture description for a target that makes no sound.

Kept apart from :mod:`reelset.review` (QA and decisions) so that editing the QA rules never
changes step2-caption's sources (and never re-runs the VLM).

Matching rule: a name or alias counts where it occurs as whole words, case-insensitively
(``(?<!\\w)name(?!\\w)``), so 'Lana' matches "Lana's" but not "Lanahan".
"""

from __future__ import annotations

import hashlib
import re


def caption_sha256(text: str) -> str:
    """sha256 (hex) of a caption's UTF-8 bytes: the key review decisions are made against."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pattern(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in term.split()) + r"(?!\w)", re.IGNORECASE)


def has_word(text: str, word: str) -> bool:
    """True when ``word`` (one or more words) occurs in ``text`` as whole words, any case."""
    return bool(word.strip()) and _pattern(word).search(text) is not None


def strip_trigger(text: str, trigger: str | None) -> str:
    """``text`` without the trigger word: every whole-word occurrence removed, with the
    punctuation and spaces that joined it ('rsdemo, Archer talks.' → 'Archer talks.')."""
    if not trigger:
        return text.strip()
    out = re.sub(r"(?<!\w)" + re.escape(trigger) + r"(?!\w)[\s,:;.\-–—]*", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", out).strip()


def caption_for(caption: str, trigger: str | None) -> str:
    """The caption as written, under reelset's one trigger-word rule (every family, every package
    and every ``reelset export``; issue 40: one rule in one place): with a trigger word,
    ``'<trigger> <caption>'`` with the trigger word exactly once — any whole-word occurrence in
    ``caption``, in any case (a reviewer may have typed it), is removed first
    (:func:`strip_trigger`); whitespace (newlines included) collapsed to single spaces so a
    caption is one CSV field and one line of a .txt sidecar. Idempotent:
    ``caption_for(caption_for(c, t), t) == caption_for(c, t)``."""
    text = " ".join(strip_trigger(caption, trigger).split())
    return f"{trigger} {text}" if trigger else text


def word_count(text: str) -> int:
    """Whitespace-separated words of ``text``."""
    return len(text.split())


def names_in_text(text: str, names: dict[str, list[str]]) -> list[str]:
    """Canonical names (in ``names`` order) of the characters named in ``text``.

    ``names``: canonical name → aliases (e.g. ``{"Malory": ["Malory Archer"]}``). The
    canonical name or any alias, as whole words and in any case, counts. Longer terms win:
    in "Malory Archer smiles" the alias of Malory claims the words, so Archer is not named.
    """
    terms = sorted(((t, name) for name, aliases in names.items() for t in [name, *aliases] if t.strip()),
                   key=lambda tn: -len(tn[0]))
    claimed: list[tuple[int, int]] = []
    found: set[str] = set()
    for term, name in terms:
        for m in _pattern(term).finditer(text):
            if not any(a <= m.start() and m.end() <= b for a, b in claimed):
                claimed.append(m.span())
                found.add(name)
    return [name for name in names if name in found]


_SECTIONED = re.compile(r"^(?P<before>.*?)\[VISUAL\]:\s*(?P<visual>.*?)\s*(?:\[(?:SPEECH|SOUNDS|TEXT)\]:.*)?$", re.DOTALL)


def picture_part(caption: str) -> str:
    """``caption`` without its sound: for a caption in the LTX-2 captioner's sections
    (``'rsdemo [VISUAL]: Archer talks. [SPEECH]: Archer: "Hi."'``) the text before ``[VISUAL]:``
    (the trigger word) followed by the [VISUAL] text (``'rsdemo Archer talks.'``); any other
    caption unchanged."""
    m = _SECTIONED.match(caption)
    if not m:
        return caption
    return " ".join(f"{m['before']} {m['visual']}".split())
