"""Report of the step3 packages (step3-ltx2-data, step3-wan21-package): totals, dropped and kept clips."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.manifest import PackageManifest

BODY = """
<h2>{{ m.kept }} kept · {{ m.dropped }} dropped · of {{ m.reviewed_accepted + m.reviewed_rejected }} clips
({{ m.reviewed_accepted }} accepted by step2-reviewed, {{ m.reviewed_rejected }} left out by review or automatic QA)</h2>
<p>{{ m.frames_written }} frames written; {{ m.source_frames_trimmed }} source frames trimmed.
Trigger word: {% if m.trigger_word %}<code>{{ m.trigger_word }}</code>{% if m.trigger_prepended %} (prepended to every caption){% else %} (not prepended){% endif %}{% else %}none{% endif %}.
{{ note }}</p>
<p>Package folder <a href="{{ m.package_dir }}/">{{ m.package_dir }}/</a>:
{% for f in m.files %}<a href="{{ f }}">{{ f }}</a> {% endfor %}· <a href="manifest.json">manifest.json</a> (every clip's fate)</p>
<h2>Dropped ({{ dropped|length }})</h2>
{% if dropped %}<table><tr><th>clip</th><th>reason</th></tr>
{% for c in dropped %}<tr><td><code>{{ c.clip_id }}</code></td><td>{{ c.reason }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">none</p>{% endif %}
<h2>Kept ({{ kept|length }})</h2>
<table><tr><th>clip</th><th>bucket</th><th>written</th><th>source</th><th>trimmed</th><th>caption</th></tr>
{% for c in kept %}<tr><td><a href="{{ c.file }}"><code>{{ c.clip_id }}</code></a></td><td>{{ c.bucket }}</td>
<td>{{ c.frames }} f · {{ c.width }}x{{ c.height }} · {{ '%g'|format(c.fps) }} fps</td>
<td>{{ c.source_frames }} f · {{ c.source_width }}x{{ c.source_height }} · {{ '%g'|format(c.source_fps) }} fps</td>
<td>{{ c.source_frames_trimmed }}</td>
<td>{{ c.caption }}{% if c.caption_source == 'edited' %} <span class="muted">(edited in review)</span>{% endif %}</td></tr>
{% endfor %}</table>
"""


def page_for(step: str, out: Path, meta, note) -> Page:
    """The package report; ``note(manifest)`` gives the trainer hint line."""
    m = load(out, "manifest.json", PackageManifest)
    return Page(shard_title(step, meta), ["manifest.json"], BODY,
                {"m": m, "kept": [c for c in m.clips if c.fate == "kept"],
                 "dropped": [c for c in m.clips if c.fate == "dropped"], "note": note(m)})
