"""Reports: the ``index.html`` of every step output, rendered by a cheap cpu derivation of its own
(``tools/render_report.py``), never by the step that computes the output.

One module per step tool, named like the tool (``step1_scenes`` for ``tools/step1_scenes.py``):
it holds the report's body template (Jinja2) and ``page(out, meta)``, which reads the step's
artifacts from ``out`` (the compute output) and returns a :class:`Page`. Editing a report module,
this package or ``reelset/report.py`` rebuilds reports and aggregates only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel


@dataclass
class Page:
    """What a report shows: title, the artifact files it links, its body template and context."""

    title: str
    files: list[str]
    body: str
    context: dict = field(default_factory=dict)


def load(out: Path, name: str, schema: type[BaseModel]) -> BaseModel:
    """Artifact ``out/name`` validated by ``schema`` (the compute step wrote and validated it)."""
    return schema.model_validate_json((out / name).read_bytes())


def shard_title(step: str, meta) -> str:
    """'<step> · <video id>' for a shard, '<step> · <dataset>' for a dataset-level output."""
    return f"{step} · {meta.shard or meta.dataset}"
