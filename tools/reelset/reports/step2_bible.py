"""Report of step2-bible (index.html of tools/step2_bible.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.bible import BibleArtifact

BODY = """
<h2>{{ b.series or 'Series bible' }} · trigger word <code>{{ b.trigger_word }}</code></h2>
<h2>Characters</h2>
<table><tr><th>name</th><th>aliases</th><th>description</th><th>voice</th><th>known mis-hearings</th><th>reference shots</th></tr>
{% for c in b.characters %}<tr><td><strong>{{ c.name }}</strong></td><td>{{ c.aliases|join(', ') }}</td><td>{{ c.description }}</td>
<td>{{ c.voice }}</td><td>{{ c.mishearings|join(', ') }}</td>
<td>{% for s in c.reference_shots %}{{ s.video }} @ {{ s.t }} s{% if not loop.last %}; {% endif %}{% endfor %}</td></tr>{% endfor %}</table>
{% if b.places %}<h2>Places</h2><table><tr><th>name</th><th>aliases</th><th>description</th><th>known mis-hearings</th><th>reference shots</th></tr>
{% for p in b.places %}<tr><td><strong>{{ p.name }}</strong></td><td>{{ p.aliases|join(', ') }}</td><td>{{ p.description }}</td>
<td>{{ p.mishearings|join(', ') }}</td><td>{% for s in p.reference_shots %}{{ s.video }} @ {{ s.t }} s{% if not loop.last %}; {% endif %}{% endfor %}</td></tr>{% endfor %}</table>{% endif %}
{% if b.glossary %}<h2>Glossary</h2><table><tr><th>term</th><th>known mis-hearings</th><th>note</th></tr>
{% for g in b.glossary %}<tr><td>{{ g.term }}</td><td>{{ g.mishearings|join(', ') }}</td><td>{{ g.note }}</td></tr>{% endfor %}</table>{% endif %}
{% if b.caption_style %}<h2>Caption style</h2><ul>{% for r in b.caption_style %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}
<p class="muted">{{ terms }} spellings known to the disambiguation passes · source {{ art.source }} (sha256 {{ art.source_sha256[:12] }}…)</p>
"""


def page(out: Path, meta) -> Page:
    art = load(out, "bible.json", BibleArtifact)
    return Page(shard_title("step2-bible", meta), ["bible.json"], BODY, {"b": art.bible, "art": art, "terms": len(art.terms)})
