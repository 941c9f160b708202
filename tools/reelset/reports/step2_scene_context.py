"""Report of step2-scene_context (index.html of tools/step2_scene_context.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.context import SceneContextArtifact

BODY = """
<h2>{{ art.clips|length }} clips · trigger word <code>{{ art.trigger_word }}</code></h2>
<table><tr><th>clip</th><th>time</th><th>characters</th><th>place</th><th>dialogue</th><th>context</th></tr>
{% for c in art.clips %}<tr><td><code>{{ c.clip_id }}</code></td><td>{{ '%.2f'|format(c.start_s) }}–{{ '%.2f'|format(c.end_s) }}</td>
<td>{% for n in c.characters %}{{ n }} <span class="muted">({{ c.character_evidence[n]|join(', ') }})</span><br>{% endfor %}</td>
<td>{{ c.place or '' }}</td><td>{% for l in c.lines %}[{{ l.speaker }}] {{ l.text }}<br>{% endfor %}
{% for d in c.dropped_lines %}<del class="muted" title="dropped: {{ d.checks|join(', ') }}">{{ d.text }}</del> <span class="muted">({{ d.checks|join(', ') }})</span><br>{% endfor %}</td>
<td>{{ c.context }}</td></tr>{% endfor %}</table>
"""


def page(out: Path, meta) -> Page:
    art = load(out, "context.json", SceneContextArtifact)
    return Page(shard_title("step2-scene-context", meta), ["context.json"], BODY, {"art": art})
