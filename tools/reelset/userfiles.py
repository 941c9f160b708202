"""The user's dataset files checked before Nix sees them (issue 38): ``reelset build``, ``status``
and ``review`` run :func:`check` first, so a typo costs a second, not an evaluation (or a build),
and the message names the file, line and column and the likely fix.

- ``dataset.toml``: TOML syntax (``dataset.toml:3:7: …``), then every section and key against the
  allowed ones (``nix/config-keys.json``, generated from the config models: the same list Nix
  checks), with "did you mean" (difflib) for a near miss;
- ``review.json`` (``[review] file``): JSON syntax with line and column, a trailing comma named as
  such (:func:`reelset.review.json_error`), then its schema (:func:`reelset.review.parse_review`);
- ``bible.yaml`` (``[bible] file``): :func:`reelset.bible.load_bible` (YAML path, the character's
  name, line).

A file that does not exist is left to the steps (review.json is optional; a missing bible is the
build's error). Errors: :class:`reelset.ReelsetError` with one line per problem.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path

from reelset import ReelsetError, nixinfo
from reelset.bible import load_bible
from reelset.review import load_review

CONFIG_KEYS = nixinfo.REPO / "nix" / "config-keys.json"  # this checkout's: bin/reelset runs its tools


def _suggest(word: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else f"; allowed: {', '.join(sorted(allowed))}"


def _walk(value, node: dict, where: str, problems: list[str]) -> None:
    """Check ``value`` (parsed TOML) against ``node`` of config-keys.json (``{"keys": …}`` for a
    table or a list of tables); append '<where>: …' problems."""
    keys = node.get("keys")
    if keys is None:
        return
    tables = value if isinstance(value, list) else [value]
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            continue
        at = f"{where}[{i}]" if isinstance(value, list) else where
        for key, sub in table.items():
            if key not in keys:
                problems.append(f"[{at}] has no key `{key}`{_suggest(key, list(keys))}")
            else:
                _walk(sub, keys[key], f"{at}.{key}", problems)


def check_dataset_toml(path: Path, shown: str = "dataset.toml") -> dict:
    """Parse and check ``path``; returns the parsed table. ReelsetError '<shown>:<line>:<col>: …'
    for a syntax error, '<shown>: [section] has no key `x`; did you mean `y`?' per unknown key."""
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{shown}:{m.group(1)}:{m.group(2)}" if m else shown
        reason = re.sub(r" \(at line .*\)$", "", str(exc))
        raise ReelsetError(f"{where}: not valid TOML: {reason}") from exc
    allowed = json.loads(CONFIG_KEYS.read_text())
    problems = []
    for section, value in cfg.items():
        if section not in allowed:
            problems.append(f"unknown section [{section}]{_suggest(section, list(allowed))}")
        else:
            _walk(value, allowed[section], section, problems)
    if problems:
        raise ReelsetError("\n".join(f"{shown}: {p}" for p in problems))
    return cfg


def _table(cfg: dict, section: str) -> dict:
    value = cfg.get(section)
    return value if isinstance(value, dict) else {}


def check(dataset_dir: Path) -> dict:
    """Check the dataset folder's dataset.toml, review.json and bible.yaml (the files its
    ``[review] file`` / ``[bible] file`` name); returns dataset.toml parsed. ReelsetError naming
    file, line and column of the first file with problems."""
    cfg = check_dataset_toml(dataset_dir / "dataset.toml")
    check_files(dataset_dir, cfg)
    return cfg


def check_files(dataset_dir: Path, cfg: dict) -> None:
    """The review.json and bible.yaml that dataset.toml (parsed: ``cfg``) names, when they exist:
    ReelsetError naming file, line and column."""
    review = str(_table(cfg, "review").get("file", "review.json"))
    if (dataset_dir / review).is_file():
        load_review(dataset_dir / review, review)
    bible = str(_table(cfg, "bible").get("file", "bible.yaml"))
    if (dataset_dir / bible).is_file():
        load_bible(dataset_dir / bible, bible)
