"""Report of the aggregates (index.html of tools/aggregate.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, step2_speakers
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.manifest import PackageManifest

BODY = """
<h2>{{ agg.members|length }} {{ ('shard' if agg.members|length == 1 else 'shards') if agg.kind == 'shards' else ('step' if agg.members|length == 1 else 'steps') }}</h2>
<table><tr><th>{{ 'video' if agg.kind == 'shards' else 'step' }}</th><th>counts</th><th>store path</th></tr>
{% for m in agg.members %}<tr><td><a href="{{ m.link }}/index.html">{{ m.name }}</a></td>
<td>{% for k, v in m.counts.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td><code>{{ m.path }}</code></td></tr>{% endfor %}</table>
"""


PACKAGES = """
{% for name, m in packages %}<h2>{{ name }}: {{ m.kept }} items, {{ '%.1f'|format(m.packaged_s) }} s of {{ '%.1f'|format(m.accepted_s) }} s accepted
({{ m.config.windows }} windows)</h2>
{% if m.balance %}<table><tr><th>character</th><th>clips</th><th>items</th><th>packaged s</th><th>speaking s in items</th></tr>
{% for b in m.balance %}<tr><td>{{ b.name }}</td><td>{{ b.clips }}</td><td>{{ b.items }}</td><td>{{ '%.1f'|format(b.packaged_s) }}</td>
<td>{{ '%.1f'|format(b.speaking_s) }}</td></tr>{% endfor %}</table>{% endif %}{% endfor %}
"""


def packages(out: Path, agg: AggregateArtifact) -> list[tuple[str, PackageManifest]]:
    """(step, manifest) of every package step among the members of a dataset's overview whose
    report folder links its manifest.json: what the overview shows in packaged seconds."""
    found = []
    for m in agg.members:
        path = out / m.link / PackageManifest.FILE
        if m.name.startswith("step3-") and path.is_file():
            found.append((m.name, load(out / m.link, PackageManifest.FILE, PackageManifest)))
    return found


def page(out: Path, meta) -> Page:
    """The page of an aggregate: its members; for step2-speakers also the voices without a name
    heard in several videos (:func:`reelset.reports.step2_speakers.linked_section`); for a dataset's
    overview also each package's accepted vs packaged seconds and balance per character
    (:func:`packages`)."""
    agg = load(out, "aggregate.json", AggregateArtifact)
    title = f"reelset · {agg.dataset}" if agg.kind == "steps" else f"{agg.step} · {agg.dataset} (all videos)"
    if agg.kind == "shards" and agg.step == "step2-speakers":
        extra, context = step2_speakers.linked_section([out / m.link for m in agg.members])
        return Page(title, ["aggregate.json"], BODY + extra, {"agg": agg, **context})
    if agg.kind == "steps":
        return Page(title, ["aggregate.json"], BODY + PACKAGES, {"agg": agg, "packages": packages(out, agg)})
    return Page(title, ["aggregate.json"], BODY, {"agg": agg})
