"""The shared ``index.html`` template of every step (Jinja2, autoescaped).

Reports are self-contained: inline CSS, no scripts from the network, only relative links
(so they work from a store path opened as a file). A step passes its own body as a small
Jinja2 template string plus the variables it uses.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import BaseLoader, Environment, select_autoescape

from reelset.schemas.base import StepMeta

_ENV = Environment(loader=BaseLoader(), autoescape=select_autoescape(default=True, default_for_string=True))

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
.meta td:first-child{font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.5rem;width:330px}.card img{width:100%}
code{background:#f4f4f4;padding:0 .2rem}.muted{color:#777}.warn{color:#a40}
</style></head>
<body>
<h1>{{ title }}</h1>
<table class="meta">
<tr><td>step</td><td>{{ meta.step }}</td></tr>
<tr><td>dataset</td><td>{{ meta.dataset }}{% if meta.shard %} / shard <code>{{ meta.shard }}</code>{% endif %}</td></tr>
<tr><td>device</td><td>{{ meta.device }}</td></tr>
{% for m in meta.models %}<tr><td>model</td><td>{{ m.repo }} @ {{ m.revision }}</td></tr>{% endfor %}
<tr><td>counts</td><td>{% for k, v in meta.counts.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
<tr><td>timings</td><td class="muted">not in the output (they differ from run to run): in the build log, <code>reelset inspect --timings result</code></td></tr>
<tr><td>files</td><td>{% for f in files %}<a href="{{ f }}">{{ f }}</a> {% endfor %}<a href="meta.json">meta.json</a></td></tr>
</table>
{{ body }}
</body></html>
"""


def render(out_dir: Path, title: str, meta: StepMeta, body_template: str, files: list[str], **context) -> None:
    """Write ``out_dir/index.html``: the shared header (meta summary, artifact links) + the step's body.

    ``body_template`` is a Jinja2 template rendered with ``context`` (autoescaped);
    ``files`` are relative links to the step's artifacts. Timings shown are those known
    when the report is rendered (meta.json holds the final ones).
    """
    body = _ENV.from_string(body_template).render(**context)
    page = _ENV.from_string(_PAGE).render(title=title, meta=meta, files=files, body=_ENV.filters["safe"](body))
    (out_dir / "index.html").write_text(page, encoding="utf-8")
