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
{% for name, link, m in packages %}<h2>{{ name }}: {{ m.kept }} items, {{ '%.1f'|format(m.packaged_s) }} s of {{ '%.1f'|format(m.accepted_s) }} s accepted
({{ m.config.windows }} windows)</h2>
<p><img src="{{ name }}-overview.png" alt="{{ name }}: item lengths, sizes, balance, footage used" style="max-width:100%"></p>
{% set kept = m.clips|selectattr('fate', 'equalto', 'kept')|list %}
<div style="display:flex;flex-wrap:wrap;gap:8px;max-width:1240px">
{% for c in kept[:SHEET] %}<figure style="width:192px;margin:0"><a href="{{ link }}/{{ c.file }}"><img src="{{ link }}/previews/{{ c.item_id }}.jpg" width="192" alt="{{ c.item_id }}"></a>
<figcaption style="font-size:11px;overflow-wrap:anywhere"><code>{{ c.item_id }}</code> · {{ '%.1f'|format(c.frames / c.fps) }} s{% if c.speaking_s %} · {{ c.speaking_s|join(', ') }}{% endif %}<br>{{ c.caption[:160] }}{% if c.caption|length > 160 %}…{% endif %}</figcaption></figure>{% endfor %}
</div>{% if kept|length > SHEET %}<p class="muted">{{ kept|length - SHEET }} more items: <a href="{{ link }}/index.html">the package report</a> shows all.</p>{% endif %}
{% if m.balance %}<table><tr><th>character</th><th>clips</th><th>items</th><th>packaged s</th><th>speaking s in items</th></tr>
{% for b in m.balance %}<tr><td>{{ b.name }}</td><td>{{ b.clips }}</td><td>{{ b.items }}</td><td>{{ '%.1f'|format(b.packaged_s) }}</td>
<td>{{ '%.1f'|format(b.speaking_s) }}</td></tr>{% endfor %}</table>{% endif %}{% endfor %}
"""


SHEET = 48  # items a package shows on the overview's contact sheet


def overview_plot(path: Path, name: str, m: PackageManifest) -> None:
    """PNG (1200x300 pixels) of one package for the overview: item-length histogram (seconds),
    items per bucket/size, packaged seconds per character, accepted vs packaged seconds per video
    (matplotlib, Agg backend; no timestamp in the file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = [c for c in m.clips if c.fate == "kept"]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3), dpi=100)
    axes[0].hist([c.frames / c.fps for c in kept] or [0], bins=12, color="#4a7")
    axes[0].set_title("item length (s)")
    buckets = {}
    for c in kept:
        buckets[c.bucket] = buckets.get(c.bucket, 0) + 1
    axes[1].barh(list(buckets) or ["-"], list(buckets.values()) or [0], color="#47a")
    axes[1].set_title("items per size")
    names = [b.name for b in m.balance][:12]
    axes[2].barh(names or ["-"], [b.packaged_s for b in m.balance][:12] or [0], color="#a74", label="packaged")
    axes[2].barh(names or ["-"], [b.speaking_s for b in m.balance][:12] or [0], color="#d95", label="speaking")
    axes[2].set_title("per character (s)")
    axes[2].legend(fontsize=7)
    vids = [v.video_id for v in m.videos]
    axes[3].bar(vids or ["-"], [v.packaged_s for v in m.videos] or [0], color="#4a7", label="packaged")
    axes[3].bar(vids or ["-"], [v.accepted_s - v.packaged_s for v in m.videos] or [0],
                bottom=[v.packaged_s for v in m.videos] or [0], color="#ccc", label="accepted, not in a window")
    axes[3].set_title("footage per video (s)")
    axes[3].legend(fontsize=7)
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def packages(out: Path, agg: AggregateArtifact) -> list[tuple[str, str, PackageManifest]]:
    """(step, link to its report folder, manifest) of every package step among the members of a
    dataset's overview whose report folder links its manifest.json: what the overview shows."""
    found = []
    for m in agg.members:
        path = out / m.link / PackageManifest.FILE
        if m.name.startswith("step3-") and path.is_file():
            found.append((m.name, m.link, load(out / m.link, PackageManifest.FILE, PackageManifest)))
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
        found = packages(out, agg)
        for name, _, m in found:  # the overview's charts: this page's own files (a report, never a compute step)
            overview_plot(out / f"{name}-overview.png", name, m)
        return Page(title, ["aggregate.json"], BODY + PACKAGES, {"agg": agg, "packages": found, "SHEET": SHEET})
    return Page(title, ["aggregate.json"], BODY, {"agg": agg})
