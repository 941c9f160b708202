"""Report of step2-speakers (index.html of tools/step2_speakers.py's output): a speaker timeline
of the video (one row per character, plus unknown/mixed; bar opacity = confidence), the voices
found with their closest reference, the references' similarity table and every segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reelset.reports import Page, load, shard_title
from reelset.schemas.speakers import SpeakersArtifact
from reelset.speakers import UnknownVoice, link_voices

BODY = """
<h2>{{ a.segments|length }} segments · {{ a.voices|length }} voices · {{ named }} segments named · encoder {{ a.encoder }} ({{ a.dim }} dims) on {{ a.device }}</h2>
<p class="muted">voice named when its cosine to a character's reference ≥ {{ a.config.min_similarity }} and beats the next by
{{ a.config.min_margin }}; a segment keeps the name at ≥ {{ a.config.min_segment_similarity }}; clusters merge at ≥ {{ a.config.cluster_similarity }}.</p>
{% if not a.references %}<p style="background:#fee">No voice references in the bible (<code>characters[].voice_references</code>): every voice stays unknown.</p>{% endif %}
<h3>Timeline</h3>
<div style="position:relative;font-size:12px">
{% for row in rows %}<div style="display:flex;align-items:center;height:22px"><div style="width:9em;flex:none">{{ row }}</div>
<div style="position:relative;flex:1;height:16px;background:#f4f4f4">
{% for s in a.segments if (s.speaker or s.status) == row %}<div title="{{ '%.2f'|format(s.start) }}–{{ '%.2f'|format(s.end) }} s · {{ s.status }} · {{ '%.2f'|format(s.confidence) }}: {{ s.text }}"
 style="position:absolute;left:{{ 100 * s.start / total }}%;width:{{ [100 * (s.end - s.start) / total, 0.3]|max }}%;top:0;bottom:0;background:{{ colour(row) }};opacity:{{ [s.confidence, 0.25]|max if s.speaker else 0.6 }}"></div>{% endfor %}
</div></div>{% endfor %}
<div class="muted" style="margin-left:9em">0 s … {{ '%.1f'|format(total) }} s</div></div>
<h3>Voices</h3>
<table><tr><th>voice</th><th>name</th><th>closest reference</th><th>cosine</th><th>margin</th><th>segments</th><th>seconds</th></tr>
{% for v in a.voices %}<tr><td>{{ v.id }}</td><td>{{ v.name or 'unknown' }}</td><td>{{ v.closest or '' }}</td>
<td>{{ v.similarity if v.similarity is not none else '' }}</td><td>{{ v.margin if v.margin is not none else '' }}</td><td>{{ v.segments|length }}</td><td>{{ '%.1f'|format(v.seconds) }}</td></tr>{% endfor %}</table>
{% if a.reference_similarity %}<h3>How alike the references sound (cosine)</h3>
<table><tr><th></th>{% for c in names %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in names %}<tr><th>{{ r }}</th>{% for c in names %}<td{% if r != c and a.reference_similarity[r][c] >= a.config.min_similarity %} style="background:#fee"{% endif %}>{{ '' if r == c else a.reference_similarity[r][c] }}</td>{% endfor %}</tr>{% endfor %}</table>
<p class="muted">References: {% for c, ws in a.references.items() %}{{ c }}: {{ ws|join('; ') }}{% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
<h3>Segments</h3>
<table><tr><th>start</th><th>end</th><th>speaker</th><th>status</th><th>confidence</th><th>voice</th><th>text</th></tr>
{% for s in a.segments %}<tr{% if s.status != 'named' %} style="background:#f8f8f8"{% endif %}><td>{{ '%.2f'|format(s.start) }}</td><td>{{ '%.2f'|format(s.end) }}</td>
<td>{{ s.speaker or 'unknown' }}</td><td>{{ s.status }}{% if s.heard|length > 1 %} ({{ s.heard|join(' + ') }}){% endif %}</td>
<td>{{ '%.3f'|format(s.confidence) }}</td><td>{{ s.voice or '' }}</td><td>{{ s.text }}</td></tr>{% endfor %}</table>
"""

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def page(out: Path, meta) -> Page:
    a = load(out, "speakers.json", SpeakersArtifact)
    names = sorted(a.references)
    rows = names + [s for s in ("unknown", "mixed") if any(x.speaker is None and x.status == s for x in a.segments)]
    colours = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    total = max([s.end for s in a.segments] + [1.0])
    return Page(shard_title("step2-speakers", meta), ["speakers.json"], BODY,
                {"a": a, "names": names, "rows": rows, "total": total,
                 "colour": lambda row: colours.get(row, "#999"), "named": sum(s.status == "named" for s in a.segments)})


LINKED = """
<h3>Voices without a name heard in several videos</h3>
{% if linked %}<p class="muted">Voices no voice reference names, grouped across videos by their mean embeddings (cosine ≥ {{ threshold }}).
A group that speaks a lot is a character the bible lacks a voice reference for: add the span shown under
<code>characters[].voice_references</code> in bible.yaml.</p>
<table><tr><th>group</th><th>seconds</th><th>heard in</th><th>reference span (longest segment)</th></tr>
{% for g in linked %}<tr><td>{{ loop.index }}</td><td>{{ '%.1f'|format(g|sum(attribute='seconds')) }}</td>
<td>{% for v in g %}{{ v.video_id }} ({{ v.voice }}, {{ '%.1f'|format(v.seconds) }} s){% if not loop.last %}, {% endif %}{% endfor %}</td>
<td>{% set v = g|sort(attribute='seconds')|last %}<code>{video: {{ v.video_id }}, start: {{ '%.2f'|format(v.longest[0]) }}, end: {{ '%.2f'|format(v.longest[1]) }}}</code></td></tr>{% endfor %}</table>
{% else %}<p class="muted">None: no voice without a name is heard in more than one video.</p>{% endif %}
"""


def unknown_voices(a: SpeakersArtifact) -> list[UnknownVoice]:
    """The voices of ``a`` no reference names (with a mean embedding), each with its longest segment."""
    spans: dict[int, list[tuple[float, float]]] = {}
    for s in a.segments:  # a segment cut into runs of one voice: each run is a span of its own
        spans.setdefault(s.id, []).append((s.start, s.end))
    out = []
    for v in a.voices:
        if v.name is None and v.embedding:
            segs = [se for i in v.segments for se in spans.get(i, [])]
            longest = max(segs, key=lambda se: se[1] - se[0], default=(0.0, 0.0))
            out.append(UnknownVoice(a.video_id, v.id, v.seconds, longest, np.asarray(v.embedding, np.float32)))
    return out


def linked_section(shards: list[Path]) -> tuple[str, dict]:
    """The all-videos page's section (template, context) over step2-speakers shard folders."""
    arts = [load(folder, "speakers.json", SpeakersArtifact) for folder in shards]
    threshold = arts[0].config.cluster_similarity if arts else 0.0
    return LINKED, {"linked": link_voices([v for a in arts for v in unknown_voices(a)], threshold), "threshold": threshold}
