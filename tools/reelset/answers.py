"""Reading a model's answer into a pydantic model, tolerantly: :func:`parse_json`.

A constrained answer (xgrammar, :mod:`reelset.vlm`) is strict JSON and passes at once; a free
one (grammar switched off, or none could be built for the model) may wrap its object in prose
or a ```json fence, use single quotes, trailing commas or Python's True/None, give a string
where the schema wants a list, or stop mid-object at the token budget. This module reads all
of those and never raises; what it could not read comes back as a :data:`Problem` with a
reason for people. Split from the model code (issue 40) so the parsing has no torch import and
is tested on recorded answers (tests/data/model_answers.json).

Written here because no library in the lock reads pseudo-JSON into a pydantic model with these
failure classes (pydantic's ``from_json(allow_partial=True)`` completes cut objects, which would
turn a truncated answer into a valid-looking one).
"""

from __future__ import annotations

import ast
import json
import typing
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

Problem = Literal["no_json", "truncated", "invalid"]


@dataclass
class Parsed(Generic[T]):
    """Result of :func:`parse_json`: ``value`` (validated model) or ``problem`` (one of
    :data:`Problem`) and ``reason`` (why, for people), ``raw`` (the object text found, '' if
    none), ``repaired`` (the object was not strict JSON: read as a Python-style literal)."""

    value: T | None
    reason: str | None
    raw: str = ""
    problem: Problem | None = None
    repaired: bool = False


def balanced_object(text: str, start: int) -> str | None:
    """The text of the brace-balanced object opening at ``text[start] == '{'``, aware of
    strings in double or single quotes and backslash escapes; None when it never closes
    (a cut answer)."""
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


_LITERALS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


class _JsonNames(ast.NodeTransformer):
    """true/false/null (and Python's spellings) as constants, so JSON-like text is a Python literal."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _LITERALS:
            return ast.copy_location(ast.Constant(_LITERALS[node.id]), node)
        return node


def python_literal(obj_text: str) -> dict | None:
    """``obj_text`` read as a Python literal (``ast.literal_eval`` after mapping true/false/null):
    accepts single-quoted strings and trailing commas, the usual ways a model's pseudo-JSON
    departs from JSON. None when it is not a dict literal."""
    try:
        tree = _JsonNames().visit(ast.parse(obj_text.strip(), mode="eval"))
        value = ast.literal_eval(tree)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, tuple, set)


def lenient(data: dict, model: type[BaseModel]) -> dict:
    """``data`` made to fit ``model`` where a model's answer commonly departs from it: a key
    whose value is null is dropped when the field has a default (null = absent); a string
    where the field is a list becomes a one-item list (``"characters": "Archer"``). Unknown
    keys are left for the model to ignore (``extra="ignore"``)."""
    out = dict(data)
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in out:
            continue
        if out[key] is None and not field.is_required():
            del out[key]
        elif isinstance(out[key], str) and _is_list(field.annotation):
            out[key] = [out[key]] if out[key].strip() else []
    return out


def json_objects(text: str):
    """The top-level objects of ``text``, in order, as (object text, dict, repaired): at each
    '{' a strict JSON object (``json.JSONDecoder.raw_decode``), else the brace-balanced span
    read as a Python-style literal (:func:`python_literal`, repaired = True); a span that is
    no literal is skipped. Yields (text from that '{', None, False) and stops at a '{' that
    never closes (a cut answer)."""
    decoder = json.JSONDecoder()
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
            if isinstance(obj, dict):
                yield text[i:end], obj, False
                i = text.find("{", end)
                continue
        except json.JSONDecodeError:
            pass
        span = balanced_object(text, i)
        if span is None:
            yield text[i:], None, False
            return
        obj = python_literal(span)
        if obj is not None:
            yield span, obj, True
            i = text.find("{", i + len(span))
        else:
            i = text.find("{", i + 1)


def parse_json(text: str, model: type[T], hit_limit: bool = False) -> Parsed[T]:
    """Validate the model's answer ``text`` with the pydantic ``model``. Never raises.

    Tolerant reading (for free decoding; a constrained answer passes at once): the top-level
    objects of the text in order (:func:`json_objects`: prose and ```json fences around them
    skipped; single quotes, trailing commas and True/None accepted, then ``repaired`` is
    True), each adjusted by :func:`lenient` (null = absent, string → list; unknown keys
    ignored) and validated; the first valid one wins. Failures: ``problem`` 'truncated' when
    an object opens but never closes (with ``hit_limit`` — generation stopped at
    max_new_tokens — the reason says so), 'no_json' when there is no object, 'invalid' when
    none validates (the first one's errors, at most five, in the reason)."""
    first: Parsed[T] | None = None
    for raw, data, repaired in json_objects(text):
        if data is None:
            if first is not None:
                break
            cut = "generation stopped at the max_new_tokens budget" if hit_limit else "the text ends"
            return Parsed(None, f"answer cut off: the JSON object is not closed ({cut}; {len(text)} chars)", raw, "truncated")
        try:
            return Parsed(model.model_validate(lenient(data, model)), None, raw, repaired=repaired)
        except ValidationError as exc:
            if first is None:
                errs = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5])
                first = Parsed(None, f"JSON does not match {model.__name__}: {errs}", raw, "invalid", repaired)
    if first is not None:
        return first
    preview = text[:80].replace("\n", " ")
    why = "no JSON object in the output" + (" (stopped at the max_new_tokens budget)" if hit_limit else "")
    return Parsed(None, f"{why} ({len(text)} chars: {preview!r})", problem="no_json")
