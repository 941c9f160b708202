"""Loading and normalizing the series bible (``pipelines/<name>/bible.yaml``).

:func:`load_bible` parses the YAML (PyYAML, safe loader), validates it with
:class:`reelset.schemas.bible.Bible` and normalizes it. Every error is a
:class:`reelset.ReelsetError` naming the file, the YAML path of the bad field
(``characters[2].reference_shots[0].t``, with the character's or place's name when it has
one) and, when PyYAML knows it, its line, e.g.::

    bible.yaml: characters[0] (Archer).reference_shots[1].t (line 12): Input should be greater
    than or equal to 0 (got -3)

:func:`bible_terms` flattens the bible into the spellings the disambiguation passes match.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from reelset import ReelsetError
from reelset.schemas.base import FanOutItem
from reelset.schemas.bible import Bible, BibleArtifact, BibleTerm


def yaml_path(loc: tuple) -> str:
    """Pydantic error location → YAML path: ('characters', 0, 'name') → 'characters[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _named(data: dict, loc: tuple) -> str:
    """' (Tobias)' when ``loc`` lies inside an entry of a list of named things (characters, places)
    that has a name, else ''."""
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data.get(loc[0]), list) and loc[1] < len(data[loc[0]]):
        entry = data[loc[0]][loc[1]]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"].strip():
            return f" ({entry['name'].strip()})"
    return ""


def _line_of(root: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (deepest node that exists), or None."""
    node, line = root, None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if node is None:  # unknown/missing key: point at the mapping
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _dedupe(items: list[str], exclude: set[str] = frozenset()) -> list[str]:
    seen, out = {s.casefold() for s in exclude}, []
    for item in map(_clean, items):
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out


def normalize(bible: Bible) -> Bible:
    """Collapse whitespace; drop empty and duplicate aliases / mis-hearings (case-insensitive)."""
    data = bible.model_dump()
    for group in ("characters", "places"):
        for entry in data[group]:
            entry["name"] = _clean(entry["name"])
            entry["aliases"] = _dedupe(entry["aliases"], {entry["name"]})
            entry["mishearings"] = _dedupe(entry["mishearings"])
            entry["description"] = _clean(entry["description"])
            if "voice" in entry:
                entry["voice"] = _clean(entry["voice"])
    for term in data["glossary"]:
        term["term"] = _clean(term["term"])
        term["mishearings"] = _dedupe(term["mishearings"])
    data["caption_style"] = [_clean(r) for r in data["caption_style"] if _clean(r)]
    return Bible.model_validate(data)


def check_unique(bible: Bible) -> list[tuple[str, str]]:
    """(YAML path, message) for each name/alias used twice and each mis-hearing that is
    also a correct spelling (case-insensitive)."""
    problems: list[tuple[str, str]] = []
    owner: dict[str, str] = {}
    for group in ("characters", "places"):
        for i, entry in enumerate(getattr(bible, group)):
            for j, spelling in enumerate([entry.name, *entry.aliases]):
                path = f"{group}[{i}]." + ("name" if j == 0 else f"aliases[{j - 1}]")
                key = _clean(spelling).casefold()
                if key in owner:
                    problems.append((path, f"'{spelling}' is already used by {owner[key]}"))
                else:
                    owner[key] = path
    for i, term in enumerate(bible.glossary):
        key = _clean(term.term).casefold()
        if key in owner:
            problems.append((f"glossary[{i}].term", f"'{term.term}' is already used by {owner[key]}"))
        owner.setdefault(key, f"glossary[{i}].term")
    for group in ("characters", "places", "glossary"):
        for i, entry in enumerate(getattr(bible, group)):
            for j, wrong in enumerate(entry.mishearings):
                if _clean(wrong).casefold() in owner:
                    problems.append((f"{group}[{i}].mishearings[{j}]",
                                     f"'{wrong}' is a correct spelling ({owner[_clean(wrong).casefold()]}), not a mis-hearing"))
    return problems


def load_bible(path: Path, where: str | None = None) -> Bible:
    """Read, validate and normalize ``path`` (bible.yaml).

    ``where`` names the file in errors (default: ``path``): inside a Nix build ``path`` is the
    store copy, so step2-bible passes the user's file name instead (the line numbers are the
    same: the copy has the same bytes).

    Raises ReelsetError ``'<where>: <yaml path> (line N): <reason>'`` for: unreadable
    file, YAML syntax errors, a top level that is not a mapping, unknown keys, missing
    required fields (e.g. a character without ``name``), wrong types, negative
    timestamps, duplicate names/aliases.
    """
    shown = where or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReelsetError(f"{shown}: cannot read the bible: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReelsetError(f"{shown}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ReelsetError(f"{shown}: (top level): expected a mapping with characters, places, glossary, "
                           f"trigger_word, …, got {type(data).__name__}")
    try:
        bible = Bible.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err["loc"]
            line = _line_of(root, loc)
            rest = loc[2:]
            inner = ("." if rest and isinstance(rest[0], str) else "") + yaml_path(rest) if rest else ""
            at = yaml_path(loc[:2]) + _named(data, loc) + inner + (f" (line {line})" if line else "")
            reason = "unknown key (not in the bible schema)" if err["type"] == "extra_forbidden" else err["msg"]
            if err["type"] not in ("missing", "extra_forbidden") and "input" in err and not isinstance(err["input"], dict | list):
                reason += f" (got {err['input']!r})"
            lines.append(f"{shown}: {at}: {reason}")
        raise ReelsetError("\n".join(lines)) from exc
    bible = normalize(bible)
    problems = check_unique(bible)
    if problems:
        raise ReelsetError("\n".join(f"{shown}: {p}" + (f" (line {ln})" if (ln := _line_of(root, _loc(p))) else "")
                                     + f": {msg}" for p, msg in problems))
    return bible


def _loc(path: str) -> tuple:
    """'characters[0].aliases[1]' → ('characters', 0, 'aliases', 1)."""
    parts: list = []
    for name, index in re.findall(r"([A-Za-z_]+)|\[(\d+)\]", path):
        parts.append(name if name else int(index))
    return tuple(parts)


def bible_terms(bible: Bible) -> list[BibleTerm]:
    """Every spelling the passes know, correct ones (names, aliases, glossary terms) first,
    then mis-hearings; each with its canonical owner and kind."""
    correct: list[BibleTerm] = []
    wrong: list[BibleTerm] = []
    for kind, group in (("character", bible.characters), ("place", bible.places)):
        for entry in group:
            correct.append(BibleTerm(text=entry.name, canonical=entry.name, kind=kind, role="name"))
            correct += [BibleTerm(text=a, canonical=entry.name, kind=kind, role="alias") for a in entry.aliases]
            wrong += [BibleTerm(text=m, canonical=entry.name, kind=kind, role="mishearing") for m in entry.mishearings]
    for term in bible.glossary:
        correct.append(BibleTerm(text=term.term, canonical=term.term, kind="glossary", role="name"))
        wrong += [BibleTerm(text=m, canonical=term.term, kind="glossary", role="mishearing") for m in term.mishearings]
    return correct + wrong


def make_artifact(path: Path, source_name: str | None = None) -> BibleArtifact:
    """bible.yaml → BibleArtifact (validated, normalized, with the flat term list); errors
    name ``source_name`` (the user's file name) when given."""
    bible = load_bible(path, source_name)
    source = source_name or path.name
    return BibleArtifact(source=source, source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                         bible=bible, terms=bible_terms(bible), fan_out=fan_out(bible, source))


def nix_number(x: float) -> str:
    """A number as Nix's ``toString`` writes a float (six decimals: 1.5 → '1.500000'), so the
    item keys and derivation names stay those users already have (`step2-shot-reference.frames.demo01-1.000000`)."""
    return f"{x:.6f}"


def fan_out(bible: Bible, source: str) -> dict[str, list[FanOutItem]]:
    """The derivations the bible fans out to (:class:`reelset.schemas.base.FanOutItem`; nix/pipeline.nix
    ``fanOutOf``): ``'shots'`` — one per distinct (video, t) of every character's and place's
    reference shots (key and name ``<video>-<t>``; config ``{'shot': {'t', 'where'}}``), in bible
    order, the first mention naming it; ``'voices'`` — one per voice reference of a character (key
    ``<character>/<video>-<start>-<end>``; name ``voice-<video>-<start>-<end>-<sha256(character)[:8]>``,
    a valid store name whatever the character's spelling; config ``{'voice': {'character', 'start',
    'end', 'where'}}``). Seconds are written as Nix's ``toString`` writes them (:func:`nix_number`)."""
    shots: dict[str, FanOutItem] = {}
    for kind, group in (("character", bible.characters), ("place", bible.places)):
        for i, entry in enumerate(group):
            for j, shot in enumerate(entry.reference_shots):
                key = f"{shot.video}-{nix_number(shot.t)}"
                where = f"{source}: {kind}s[{i}].reference_shots[{j}]"
                shots.setdefault(key, FanOutItem(key=key, name=key, video=shot.video, file=source, where=where,
                                                 what=f"a reference shot of {kind} {entry.name}",
                                                 config={"shot": {"t": shot.t, "where": where}}))
    voices = []
    for i, character in enumerate(bible.characters):
        for j, ref in enumerate(character.voice_references):
            span = f"{ref.video}-{nix_number(ref.start)}-{nix_number(ref.end)}"
            where = f"{source}: characters[{i}].voice_references[{j}]"
            tag = hashlib.sha256(character.name.encode()).hexdigest()[:8]
            voices.append(FanOutItem(key=f"{character.name}/{span}", name=f"voice-{span}-{tag}", video=ref.video,
                                     file=source, where=where, what=f"a voice reference of character {character.name} ({where})",
                                     config={"voice": {"character": character.name, "start": ref.start, "end": ref.end, "where": where}}))
    return {"shots": list(shots.values()), "voices": voices}
