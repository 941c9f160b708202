"""Transcript disambiguation against the series bible: alignment and lexical matching.

Words are dicts ``{word, start, end, probability, source}`` (seconds, probability 0-1)
grouped per segment. The passes' rules live here (model loading and generation are in
``reelset.vlm``):

- :func:`conditioned_pass`: aligns the base words with the words of a bible-conditioned
  re-decoding (``difflib.SequenceMatcher`` over normalized tokens, then word timestamps
  inside each differing block) and adopts only the differences that introduce a bible
  term; every other difference is recorded as an alternative and not applied.
- :func:`lexical_pass`: compares low-probability words and n-grams with the bible's
  spellings: listed mis-hearings (exact, normalized) and phonetic + fuzzy matches
  (jellyfish Metaphone/NYSIIS codes + rapidfuzz Jaro-Winkler similarity).
- :func:`model_prompt` / :func:`model_pass_segment`: the multimodal pass's prompt, and the
  checks a VLM answer must pass before it edits a segment or attributes a speaker.

All return :class:`reelset.schemas.disambiguate.AuditEntry` lists and edit the words in place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

import jellyfish
from rapidfuzz.distance import JaroWinkler

from reelset.schemas.bible import Bible, BibleTerm
from reelset.schemas.disambiguate import AuditEntry, ModelSegmentAnswer, SpeakerAttribution

TRAILING_PUNCT = re.compile(r"[.,!?;:]+$")


def norm(token: str) -> str:
    """Matching form of a word: lower case, letters and digits only ("Archer," → "archer")."""
    return re.sub(r"[^0-9a-z]", "", token.casefold())


@dataclass(frozen=True)
class Term:
    """A bible spelling split into matching tokens."""

    text: str
    canonical: str
    kind: str
    role: str
    tokens: tuple[str, ...]

    @property
    def key(self) -> str:
        return "".join(self.tokens)


def make_terms(terms: list[BibleTerm]) -> list[Term]:
    """BibleTerms → Terms (empty spellings dropped), longest first so multi-word names win."""
    out = [Term(t.text, t.canonical, t.kind, t.role, tuple(filter(None, map(norm, t.text.split())))) for t in terms]
    return sorted((t for t in out if t.tokens), key=lambda t: -len(t.tokens))


def sounds_alike(a: str, b: str) -> bool:
    """Same Metaphone or NYSIIS code (jellyfish) of two letter strings."""
    return bool(a and b) and (jellyfish.metaphone(a) == jellyfish.metaphone(b) or jellyfish.nysiis(a) == jellyfish.nysiis(b))


def similarity(a: str, b: str) -> float:
    """Jaro-Winkler similarity (rapidfuzz), 0-1."""
    return float(JaroWinkler.similarity(a, b))


def is_correct_term(tokens: list[str], correct: list[Term]) -> Term | None:
    """The correct bible term (name/alias/glossary) these tokens spell, if any."""
    key = "".join(tokens)
    return next((t for t in correct if t.key == key), None)


def find_terms(tokens: list[str], terms: list[Term]) -> list[tuple[int, int, Term]]:
    """Non-overlapping occurrences (start, end exclusive, term) of ``terms`` in ``tokens``,
    longest terms first."""
    taken = [False] * len(tokens)
    found = []
    for term in terms:
        n = len(term.tokens)
        for i in range(len(tokens) - n + 1):
            if not any(taken[i:i + n]) and tuple(tokens[i:i + n]) == term.tokens:
                found.append((i, i + n, term))
                for k in range(i, i + n):
                    taken[k] = True
    return sorted(found, key=lambda f: f[0])


def _spelled(term: Term, replaced_last: str | None) -> str:
    """The term's spelling plus the trailing punctuation of the last replaced word."""
    punct = TRAILING_PUNCT.search(replaced_last or "")
    return term.text + (punct.group(0) if punct else "")


def _text(words: list[dict]) -> str:
    return " ".join(w["word"] for w in words)


def _overlapping(base: list[dict], start: float, end: float, lo: int, hi: int) -> list[int]:
    """Indices in ``[lo, hi)`` of base words with at least half their duration inside [start, end]."""
    out = []
    for i in range(lo, hi):
        w = base[i]
        dur = max(w["end"] - w["start"], 1e-3)
        inside = min(w["end"], end) - max(w["start"], start)
        if inside >= 0.5 * dur:
            out.append(i)
    return out


def conditioned_pass(segments: list[list[dict]], conditioned: list[dict], terms: list[BibleTerm],
                     keep_confident: float = 0.9, min_insert_probability: float = 0.5) -> list[AuditEntry]:
    """Adopt the bible terms a conditioned re-decoding heard; keep other differences aside.

    ``segments``: base words per segment (edited in place); ``conditioned``: the words of
    the conditioned run (flat, same fields). Rules (per differing block of the alignment):
    - a correct bible spelling in the conditioned words that the base block lacks replaces
      the base words lying (by at least half their duration) inside its time span, unless
      one of them is itself a correct bible spelling, or one was heard with probability >=
      ``keep_confident`` without sounding like the term (then it is an alternative);
    - with no base word under it, the term is inserted only if its probability is >=
      ``min_insert_probability``;
    - every other difference is an ``alternative`` audit entry, never applied.
    """
    correct = [t for t in make_terms(terms) if t.role != "mishearing"]
    flat = [(si, wi) for si, seg in enumerate(segments) for wi in range(len(seg))]
    base = [segments[si][wi] for si, wi in flat]
    btok = [norm(w["word"]) for w in base]
    ctok = [norm(w["word"]) for w in conditioned]
    audit: list[AuditEntry] = []
    replace_plan: list[tuple[list[int], Term, list[dict], AuditEntry]] = []
    inserts: list[tuple[int, Term, list[dict], AuditEntry]] = []

    def seg_of(i: int) -> int:
        return flat[min(i, len(flat) - 1)][0] if flat else 0

    for op, b0, b1, c0, c1 in SequenceMatcher(None, btok, ctok, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        used_c: set[int] = set()
        for s, e, term in find_terms(ctok[c0:c1], correct):
            cw = conditioned[c0 + s:c0 + e]
            if term.key in btok[b0:b1] or is_correct_term(btok[b0:b1], correct) is term:
                continue
            start, end = cw[0]["start"], cw[-1]["end"]
            under = _overlapping(base, start, end, b0, b1)
            under = [i for i in under if flat[i][0] == flat[under[0]][0]] if under else []  # one segment
            probs_after = [round(w["probability"], 3) for w in cw]
            conf = round(sum(probs_after) / len(probs_after), 3)
            entry = dict(segment=seg_of(under[0] if under else b0),
                         **{"pass": "conditioned"}, before=_text([base[i] for i in under]), after=term.text,
                         start=round(start, 3), end=round(end, 3), term=term.canonical,
                         probabilities_before=[round(base[i]["probability"], 3) for i in under],
                         probabilities_after=probs_after, confidence=conf)
            heard = "".join(btok[i] for i in under)
            blocker = next((base[i]["word"] for i in under if is_correct_term([btok[i]], correct)), None)
            confident = [base[i]["word"] for i in under if base[i]["probability"] >= keep_confident]
            if blocker:
                audit.append(AuditEntry(action="alternative", reason=f"conditioned run heard {term.text!r} over "
                                        f"{blocker!r}, itself a bible spelling: kept", **entry))
            elif confident and not sounds_alike(heard, term.key):
                audit.append(AuditEntry(action="alternative", reason=f"base heard {' '.join(confident)!r} with probability "
                                        f">= {keep_confident} and it does not sound like {term.text!r}: kept", **entry))
            elif not under:
                if conf >= min_insert_probability:
                    inserts.append((b0, term, cw, AuditEntry(action="applied", reason=f"conditioned run heard the bible "
                                                             f"{term.kind} {term.text!r} where the base heard nothing", **entry)))
                else:
                    audit.append(AuditEntry(action="alternative", reason=f"insertion of {term.text!r} with probability "
                                            f"{conf} < {min_insert_probability}: not applied", **entry))
            else:
                why = "sounds like it" if sounds_alike(heard, term.key) else "base words were uncertain"
                replace_plan.append((under, term, cw, AuditEntry(action="applied", reason=f"conditioned run heard the "
                                    f"bible {term.kind} {term.text!r} ({why})", **entry)))
            used_c.update(range(c0 + s, c0 + e))
        rest_c = [conditioned[i] for i in range(c0, c1) if i not in used_c]
        covered = {i for plan in replace_plan for i in plan[0]}
        rest_b = [base[i] for i in range(b0, b1) if i not in covered]
        if rest_c or rest_b:
            ws = rest_b or rest_c
            audit.append(AuditEntry(segment=seg_of(b0), **{"pass": "conditioned"}, action="alternative",
                                    before=_text(rest_b), after=_text(rest_c), start=round(ws[0]["start"], 3),
                                    end=round(ws[-1]["end"], 3), reason="differs without introducing a bible term: kept as an alternative",
                                    probabilities_before=[round(w["probability"], 3) for w in rest_b],
                                    probabilities_after=[round(w["probability"], 3) for w in rest_c],
                                    confidence=0.0))
    # apply: replacements back to front so indices stay valid
    applied: list[AuditEntry] = []
    for under, term, _cw, entry in sorted(replace_plan, key=lambda p: -p[0][0]):
        si, wi = flat[under[0]]
        seg = segments[si]
        idx = [flat[i][1] for i in under if flat[i][0] == si]
        new = dict(word=_spelled(term, base[under[-1]]["word"]), start=base[under[0]]["start"], end=base[under[-1]]["end"],
                   probability=min(1.0, max(0.0, entry.confidence)), source="conditioned")
        seg[idx[0]:idx[-1] + 1] = [new]
        entry.segment = si
        applied.append(entry)
    for b0, term, cw, entry in sorted(inserts, key=lambda p: -p[0]):
        si, wi = flat[b0] if b0 < len(flat) else (len(segments) - 1, len(segments[-1]))
        segments[si].insert(wi, dict(word=term.text, start=cw[0]["start"], end=cw[-1]["end"],
                                     probability=entry.confidence, source="conditioned"))
        entry.segment = si
        applied.append(entry)
    return sorted(applied + audit, key=lambda a: (a.start if a.start is not None else 0.0))


def lexical_pass(segments: list[list[dict]], terms: list[BibleTerm], max_probability: float = 0.75,
                 min_similarity: float = 0.8, max_ngram: int = 3) -> list[AuditEntry]:
    """Replace listed mis-hearings and low-probability words/n-grams that sound like a bible term.

    Candidates are n-grams (1..``max_ngram`` words, inside one segment) of words not yet
    changed by another pass and not already a correct bible spelling. A candidate equal
    (normalized) to a listed mis-hearing is replaced by its canonical term. Otherwise, if
    the mean ASR probability of its words is < ``max_probability``, it is replaced by the
    correct spelling with the highest Jaro-Winkler similarity >= ``min_similarity`` that
    also shares its Metaphone or NYSIIS code. Overlapping matches: the best score wins.
    """
    all_terms = make_terms(terms)
    correct = [t for t in all_terms if t.role != "mishearing"]
    wrong = [t for t in all_terms if t.role == "mishearing"]
    audit: list[AuditEntry] = []
    for si, seg in enumerate(segments):
        tokens = [norm(w["word"]) for w in seg]
        frozen = [w.get("source", "base") != "base" or bool(is_correct_term([t], correct)) or not t
                  for w, t in zip(seg, tokens, strict=True)]
        matches: list[tuple[float, int, int, Term, str]] = []
        for n in range(1, max_ngram + 1):
            for i in range(len(seg) - n + 1):
                if any(frozen[i:i + n]):
                    continue
                key = "".join(tokens[i:i + n])
                listed = next((t for t in wrong if t.key == key), None)
                if listed is not None:
                    target = next(t for t in correct if t.text == listed.canonical)
                    matches.append((1.0 + n, i, i + n, target, f"listed mis-hearing {listed.text!r} of the bible {target.kind} {target.text!r}"))
                    continue
                probs = [w["probability"] for w in seg[i:i + n]]
                if sum(probs) / n >= max_probability or len(key) < 3:
                    continue
                best = max(((similarity(key, t.key), t) for t in correct if sounds_alike(key, t.key)),
                           key=lambda p: p[0], default=None)
                if best and best[0] >= min_similarity:
                    matches.append((best[0], i, i + n, best[1], f"sounds like the bible {best[1].kind} {best[1].text!r} "
                                    f"(Jaro-Winkler {best[0]:.2f}, same phonetic code, mean probability {sum(probs) / n:.2f})"))
        taken = [False] * len(seg)
        chosen = []
        for score, i, j, term, why in sorted(matches, key=lambda m: (-m[0], m[1])):
            if not any(taken[i:j]):
                chosen.append((score, i, j, term, why))
                for k in range(i, j):
                    taken[k] = True
        for score, i, j, term, why in sorted(chosen, key=lambda m: -m[1]):
            old = seg[i:j]
            audit.append(AuditEntry(segment=si, **{"pass": "lexical"}, action="applied", before=_text(old), after=term.text,
                                    start=old[0]["start"], end=old[-1]["end"], reason=why, term=term.canonical,
                                    probabilities_before=[round(w["probability"], 3) for w in old],
                                    confidence=round(min(score, 1.0), 3)))
            seg[i:j] = [dict(word=_spelled(term, old[-1]["word"]), start=old[0]["start"], end=old[-1]["end"],
                             probability=round(sum(w["probability"] for w in old) / len(old), 3), source="lexical")]
    return sorted(audit, key=lambda a: (a.start or 0.0))


def name_mentions(text: str, names: list[str]) -> dict[str, int]:
    """Count whole-word occurrences of each name in ``text`` (case-sensitive spelling, so
    'Mallory' is not 'Malory'); used by tests and bench to score recall/precision."""
    return {n: len(re.findall(rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])", text)) for n in names}


# --------------------------------------------------------------------------- multimodal pass
MODEL_SYSTEM = ("You check transcripts of a video against its series bible. You answer with one JSON object "
                "and nothing else.")


def model_prompt(bible: Bible, references: list[str], text: str, start: float, end: float) -> str:
    """The user prompt of the multimodal pass for one segment (``start``/``end`` seconds).

    ``references``: labels of the reference pictures that precede the prompt, in order
    (e.g. "Archer (character)"). The prompt gives the bible (characters with aliases,
    looks and voice notes, places, glossary), the segment's current text and the JSON schema
    of :class:`reelset.schemas.disambiguate.ModelSegmentAnswer`, and asks for names spelled as in the
    bible and nothing else changed."""
    lines = ["Series bible:"]
    for c in bible.characters:
        extra = "; ".join(x for x in (f"also called {', '.join(c.aliases)}" if c.aliases else "",
                                      f"looks: {c.description}" if c.description else "",
                                      f"voice: {c.voice}" if c.voice else "") if x)
        lines.append(f"- character {c.name}" + (f" ({extra})" if extra else ""))
    lines += [f"- place {p.name}" + (f" ({p.description})" if p.description else "") for p in bible.places]
    lines += [f"- term {g.term}" + (f" ({g.note})" if g.note else "") for g in bible.glossary]
    if references:
        lines.append("Reference pictures, in order: " + "; ".join(f"picture {i + 1}: {r}" for i, r in enumerate(references)) + ".")
    lines.append(f"The video shows the segment from {start:.2f} s to {end:.2f} s.")
    lines.append(f"Transcript of the segment (speech recognition, may misspell names): {text!r}")
    lines.append("Who speaks in this segment, and what is the transcript with every character name, place and "
                 "term spelled as in the bible? Change nothing else.")
    lines.append("Answer with JSON matching this schema: " + json.dumps(ModelSegmentAnswer.model_json_schema(), separators=(",", ":")))
    return "\n".join(lines)


def resolve_speaker(name: str, bible: Bible) -> str | None:
    """Canonical character name for ``name`` (a name or alias, case-insensitive), 'unknown'
    for unknown/empty, None when it names no bible character."""
    key = " ".join(name.split()).casefold()
    if key in ("", "unknown", "none", "nobody"):
        return "unknown"
    for c in bible.characters:
        if key in {c.name.casefold(), *(a.casefold() for a in c.aliases)}:
            return c.name
    return None


def model_pass_segment(si: int, seg: list[dict], answer: ModelSegmentAnswer, bible: Bible, terms: list[BibleTerm],
                       min_confidence: float, min_similarity: float) -> tuple[SpeakerAttribution, list[AuditEntry]]:
    """Apply one validated VLM answer to segment ``si`` (words edited in place).

    Speaker: a bible character (name or alias → canonical) or 'unknown'; any other name is
    'rejected' (audit) and the speaker is unknown. Text: the answer is aligned with the
    current words (difflib over normalized tokens); a differing block is applied only when
    the answer's side spells a correct bible term the current side lacks and the current
    words sound like it (same Metaphone/NYSIIS code or Jaro-Winkler >= ``min_similarity``),
    like the lexical pass — so the model can fix a name but never turns a correct word into
    one ('rejected' otherwise). Other differences are 'alternative' entries. Answers below
    ``min_confidence`` change nothing: their term edits become alternatives and the speaker
    'unknown' (source 'model', with the model's confidence)."""
    audit: list[AuditEntry] = []
    conf = round(float(answer.confidence), 3)
    confident = conf >= min_confidence
    speaker = resolve_speaker(answer.speaker, bible)
    if speaker is None:
        audit.append(AuditEntry(segment=si, **{"pass": "model"}, action="rejected", before="", after=answer.speaker,
                                reason=f"speaker {answer.speaker!r} is not a character of the bible", confidence=conf))
        attribution = SpeakerAttribution(speaker="unknown", confidence=0.0, source="none")
    else:
        attribution = SpeakerAttribution(speaker=speaker if confident else "unknown", confidence=conf, source="model")
    correct = [t for t in make_terms(terms) if t.role != "mishearing"]
    cur = [norm(w["word"]) for w in seg]
    new_words = answer.text.split()
    new = [norm(w) for w in new_words]
    edits = []
    for op, i0, i1, j0, j1 in SequenceMatcher(None, cur, new, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        before, after = _text(seg[i0:i1]), " ".join(new_words[j0:j1])
        found = [t for _, _, t in find_terms(new[j0:j1], correct)]
        have = {t.canonical for _, _, t in find_terms(cur[i0:i1], correct)}
        term = next((t for t in found if t.canonical not in have), None)
        when = dict(start=seg[i0]["start"], end=seg[i1 - 1]["end"]) if i1 > i0 else {}
        probs = [round(w["probability"], 3) for w in seg[i0:i1]]
        if term is None or i1 == i0:
            audit.append(AuditEntry(segment=si, **{"pass": "model"}, action="alternative", before=before, after=after, **when,
                                    reason="model text differs without introducing a bible term (not applied)" if term is None
                                    else f"model inserts the bible {term.kind} {term.text!r} where no word was heard (not applied)",
                                    term=term.canonical if term else None, probabilities_before=probs, confidence=conf))
            continue
        key = "".join(cur[i0:i1])
        sim = similarity(key, term.key)
        if any(w.get("source", "base") != "base" for w in seg[i0:i1]) or not (sounds_alike(key, term.key) or sim >= min_similarity):
            audit.append(AuditEntry(segment=si, **{"pass": "model"}, action="rejected", before=before, after=after, **when,
                                    reason=f"model proposes the bible {term.kind} {term.text!r}, but {before!r} does not sound like it "
                                           f"(Jaro-Winkler {sim:.2f}) or was set by an earlier pass", term=term.canonical,
                                    probabilities_before=probs, confidence=conf))
            continue
        if not confident:
            audit.append(AuditEntry(segment=si, **{"pass": "model"}, action="alternative", before=before, after=term.text, **when,
                                    reason=f"model confidence {conf} < {min_confidence} (not applied)", term=term.canonical,
                                    probabilities_before=probs, confidence=conf))
            continue
        edits.append((i0, i1, term, before, probs, sim))
    for i0, i1, term, before, probs, sim in sorted(edits, key=lambda e: -e[0]):
        old = seg[i0:i1]
        audit.append(AuditEntry(segment=si, **{"pass": "model"}, action="applied", before=before, after=term.text,
                                start=old[0]["start"], end=old[-1]["end"], term=term.canonical, probabilities_before=probs,
                                reason=f"model spelled the bible {term.kind} {term.text!r} (sounds alike, Jaro-Winkler {sim:.2f})",
                                confidence=conf))
        seg[i0:i1] = [dict(word=_spelled(term, old[-1]["word"]), start=old[0]["start"], end=old[-1]["end"],
                           probability=conf, source="model")]
    return attribution, sorted(audit, key=lambda a: (a.start or 0.0))
