"""Report of the aggregates (index.html of tools/aggregate.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, step2_speakers
from reelset.schemas.aggregate import AggregateArtifact

BODY = """
<h2>{{ agg.members|length }} {{ ('shard' if agg.members|length == 1 else 'shards') if agg.kind == 'shards' else ('step' if agg.members|length == 1 else 'steps') }}</h2>
<table><tr><th>{{ 'video' if agg.kind == 'shards' else 'step' }}</th><th>counts</th><th>store path</th></tr>
{% for m in agg.members %}<tr><td><a href="{{ m.link }}/index.html">{{ m.name }}</a></td>
<td>{% for k, v in m.counts.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td><code>{{ m.path }}</code></td></tr>{% endfor %}</table>
"""


def page(out: Path, meta) -> Page:
    """The page of an aggregate: its members; for step2-speakers also the voices without a name
    heard in several videos (:func:`reelset.reports.step2_speakers.linked_section`)."""
    agg = load(out, "aggregate.json", AggregateArtifact)
    title = f"reelset · {agg.dataset}" if agg.kind == "steps" else f"{agg.step} · {agg.dataset} (all videos)"
    if agg.kind == "shards" and agg.step == "step2-speakers":
        extra, context = step2_speakers.linked_section([out / m.link for m in agg.members])
        return Page(title, ["aggregate.json"], BODY + extra, {"agg": agg, **context})
    return Page(title, ["aggregate.json"], BODY, {"agg": agg})
