"""Report of step4-preprocess (index.html of tools/step4_preprocess.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.export import export_commands
from reelset.reports import Page, load, shard_title
from reelset.schemas.latents import LatentIndex

BODY = """
<h2>{{ idx.clips|length }} clips encoded · {{ idx.family }} · audio {{ 'on' if idx.audio else 'off' }}</h2>
<p>Model <code>{{ idx.model.repo }}</code> @ {{ idx.model.revision }}. Index: <a href="latents.json">latents.json</a>.</p>
{% if commands %}<p>An outside trainer reads these files as they are: {% for c in commands %}<code>{{ c }} --model-path …</code> {% endfor %}
(the export's TRAIN.md has the training command).</p>{% endif %}
<table><tr><th>clip</th><th>bucket</th><th>clip</th><th>tensors (shape, dtype)</th><th>caption</th></tr>
{% for c in idx.clips %}<tr><td><code>{{ c.clip_id }}</code></td><td>{{ c.bucket }}</td>
<td>{{ c.frames }} f · {{ c.width }}x{{ c.height }} · {{ '%g'|format(c.fps) }} fps</td>
<td>{% for k, s in c.shapes.items() %}<code>{{ k }}</code> {{ s }} {{ c.dtypes[k] }}<br>{% endfor %}
{% for kind, f in c.files.items() %}<a href="{{ f }}">{{ kind }}</a> {% endfor %}</td><td>{{ c.caption }}</td></tr>
{% endfor %}</table>
"""


def page(out: Path, meta) -> Page:
    idx = load(out, "latents.json", LatentIndex)
    return Page(shard_title(meta.step, meta), ["latents.json"], BODY,
                {"idx": idx, "commands": export_commands(meta.step)})
