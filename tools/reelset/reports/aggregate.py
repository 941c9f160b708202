"""Report of the aggregates (index.html of tools/aggregate.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset import card
from reelset.reports import Page, load, step2_speakers
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.manifest import PackageManifest
from reelset.schemas.reviewed import ReviewedArtifact

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
<td>{{ '%.1f'|format(b.speaking_s) }}</td></tr>{% endfor %}</table>{% endif %}
{% set sizes = sizes_of(m) %}{% if sizes %}<table><tr><th>source</th><th>written</th><th>scaled down from</th><th>items</th><th>scale</th></tr>
{% for src, out, frm, n, scale in sizes %}<tr><td>{{ src }}</td><td>{{ out }}</td><td>{{ frm or '—' }}</td><td>{{ n }}</td>
<td{% if scale > 1 %} class="warn"{% endif %}>{{ '%.2f'|format(scale) }}x{% if scale > 1 %} upscaled{% endif %}</td></tr>{% endfor %}</table>{% endif %}
<p>Dataset card: <a href="{{ link }}/README.md">{{ name }}/README.md</a> (episodes with sha256, sizes, models with their pins, licence).</p>{% endfor %}
"""


LEFT_OUT = """
{% set n_left = left_out|map(attribute='clips')|map('length')|sum %}<h2>Left out ({{ n_left }} {{ 'clip' if n_left == 1 else 'clips' }})</h2>
{% if left_out %}<p>Grouped by reason. To change a decision: <code>reelset review</code> (in the dataset folder; a clip's card is
<code>http://127.0.0.1:8765/video/&lt;video&gt;#clip-&lt;clip id&gt;</code>), then <code>git add review.json</code> and <code>reelset build</code>.</p>
{% for g in left_out %}<h3>{{ g.reason }} ({{ g.clips|length }}){% if g.where %} <span class="muted">· {{ g.where }}</span>{% endif %}</h3>
<div style="display:flex;flex-wrap:wrap;gap:8px;max-width:1240px">
{% for c in g.clips[:SHEET] %}<figure style="width:160px;margin:0">{% if c.thumb %}<img src="{{ c.thumb }}" width="160" alt="{{ c.clip_id }}">{% endif %}
<figcaption style="font-size:11px;overflow-wrap:anywhere"><code>{{ c.clip_id }}</code><br>{{ c.detail }}</figcaption></figure>{% endfor %}
</div>{% if g.clips|length > SHEET %}<p class="muted">{{ g.clips|length - SHEET }} more: step2-reviewed's report lists all.</p>{% endif %}{% endfor %}
{% else %}<p class="muted">nothing: every clip is packaged</p>{% endif %}
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


def left_out(out: Path, agg: AggregateArtifact, found: list[tuple[str, str, PackageManifest]]) -> list[dict]:
    """The clips the overview shows as left out, grouped by reason (the text before its first ':'),
    largest group first: those step2-reviewed rejected (review decisions, automatic QA, repeats:
    its reviewed.json) and those a package dropped (e.g. too short for every bucket), each with
    its step1-scenes thumbnail (``step1-scenes/shards/<video>/thumbs/<clip>.jpg``, relative to the
    overview) when the overview links it. Each group: {"reason", "where", "clips": [{"clip_id",
    "video_id", "detail", "thumb"}]}."""
    links = {m.name: m.link for m in agg.members}
    groups: dict[tuple[str, str], list[dict]] = {}

    def add(where: str, clip_id: str, video_id: str, reason: str) -> None:
        thumb = f"{links['step1-scenes']}/shards/{video_id}/thumbs/{clip_id}.jpg" if "step1-scenes" in links else None
        if thumb and not (out / thumb).is_file():
            thumb = None
        groups.setdefault((reason.split(":")[0].strip(), where), []).append(
            {"clip_id": clip_id, "video_id": video_id, "detail": reason, "thumb": thumb})

    if "step2-reviewed" in links and (out / links["step2-reviewed"] / ReviewedArtifact.FILE).is_file():
        reviewed = load(out / links["step2-reviewed"], ReviewedArtifact.FILE, ReviewedArtifact)
        for r in reviewed.rejected:
            add("step2-reviewed", r.clip_id, r.video_id, "; ".join(r.reasons))
    rejected = {c["clip_id"] for g in groups.values() for c in g}
    for name, _, m in found:
        for c in m.clips:
            if c.fate == "dropped" and c.clip_id not in rejected:
                add(name, c.clip_id, c.video_id, c.reason or "?")
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [{"reason": reason, "where": where, "clips": clips} for (reason, where), clips in ordered]


def page(out: Path, meta) -> Page:
    """The page of an aggregate: its members; for step2-speakers also the voices without a name
    heard in several videos (:func:`reelset.reports.step2_speakers.linked_section`); for a dataset's
    overview also each package's chart, contact sheet, balance per character, source vs written
    sizes and dataset card (:func:`packages`), then the clips left out, grouped by reason with their
    thumbnails (:func:`left_out`)."""
    agg = load(out, "aggregate.json", AggregateArtifact)
    title = f"reelset · {agg.dataset}" if agg.kind == "steps" else f"{agg.step} · {agg.dataset} (all videos)"
    if agg.kind == "shards" and agg.step == "step2-speakers":
        extra, context = step2_speakers.linked_section([out / m.link for m in agg.members])
        return Page(title, ["aggregate.json"], BODY + extra, {"agg": agg, **context})
    if agg.kind == "steps":
        found = packages(out, agg)
        for name, _, m in found:  # the overview's charts: this page's own files (a report, never a compute step)
            overview_plot(out / f"{name}-overview.png", name, m)
        # what a person asks first (how much, what it looks like, what was left out), then the steps' counters
        return Page(title, ["aggregate.json"], PACKAGES + LEFT_OUT + BODY,
                    {"agg": agg, "packages": found, "SHEET": SHEET, "sizes_of": card.sizes_table,
                     "left_out": left_out(out, agg, found)})
    return Page(title, ["aggregate.json"], BODY, {"agg": agg})
