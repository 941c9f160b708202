"""Report of step3-stills (index.html of tools/step3_stills.py's output): a contact sheet per
character with each still's scores (made here: it exists only for people; at most
:data:`COLUMNS` x :data:`CELL_WIDTH` = 960 pixels wide), the table of scores and captions, and
why a set is empty."""

from __future__ import annotations

from pathlib import Path

from reelset import frames
from reelset.reports import Page, load, shard_title
from reelset.schemas.stills import StillsArtifact

SHEETS = "sheets"  # folder of the report: one JPEG contact sheet per set
CELL_WIDTH, COLUMNS = 240, 4

BODY = """
<h2>{{ total }} stills in {{ art.sets|length }} sets · trigger word {% if art.trigger_word %}<code>{{ art.trigger_word }}</code>{% else %}none{% endif %}</h2>
<p>Settings: per_character {{ art.config.per_character }}, min_gap_s {{ art.config.min_gap_s }}, sample_fps {{ art.config.sample_fps }},
near-duplicates at ≤ {{ art.config.max_duplicate_bits }} dHash bits; videos {{ art.videos|join(', ') or 'none' }}.
Score = evidence (reference 1.0 · caption 0.9 · speaks 0.5) × shot type (close-ups first) × sharpness (variance of the Laplacian, v/(v+100)) × exposure.
Each still is written at its clip's full size in square pixels (never upscaled), with a same-name .txt caption:
<a href="stills/">stills/</a>{% for s in art.sets %} · <a href="stills/{{ folders[s.character] }}/">{{ s.character }}</a>{% endfor %}.</p>
{% for s in art.sets %}<h2>{{ s.character }}: {{ s.stills|length }} stills</h2>
<p class="muted">{{ s.clips|length }} candidate clips, {{ s.candidates }} frames scored, {{ s.duplicates }} near-duplicates and
{{ s.too_close }} too close (min_gap_s) left out.</p>
{% if s.note %}<p class="warn">{{ s.note }}</p>{% endif %}
{% if s.stills %}<p><a href="sheets/{{ folders[s.character] }}.jpg"><img src="sheets/{{ folders[s.character] }}.jpg" alt="{{ s.character }}" style="max-width:100%"></a></p>
<table><tr><th>still</th><th>clip</th><th>video s</th><th>size</th><th>evidence</th><th>shot</th><th>sharpness</th><th>exposure</th><th>score</th><th>caption</th></tr>
{% for st in s.stills %}<tr><td><a href="{{ st.file }}">{{ st.file.split('/')[-1] }}</a></td><td><code>{{ st.clip_id }}</code> f{{ st.frame }}</td>
<td>{{ '%.2f'|format(st.t_s) }}</td><td>{{ st.width }}x{{ st.height }}</td><td>{{ st.evidence }}</td><td>{{ st.shot_type }}</td>
<td>{{ '%.0f'|format(st.sharpness) }}</td><td>{{ '%.2f'|format(st.exposure) }}</td><td>{{ '%.3f'|format(st.score) }}</td>
<td style="overflow-wrap:anywhere">{{ st.caption }}</td></tr>{% endfor %}</table>{% endif %}
{% endfor %}
"""


def _folder(art: StillsArtifact) -> dict[str, str]:
    """Set → its folder under stills/ (from the stills' own paths; the name when the set is empty)."""
    return {s.character: (s.stills[0].file.split("/")[1] if s.stills else s.character) for s in art.sets}


def write_extras(data: Path, work: Path, config: dict) -> None:
    """``sheets/<set>.jpg``: the stills of each non-empty set in a grid, each labelled with its score,
    sharpness, exposure and evidence (``config``: unused)."""
    del config
    art = load(data, StillsArtifact.FILE, StillsArtifact)
    (work / SHEETS).mkdir()
    folders = _folder(art)
    for s in art.sets:
        if s.stills:
            frames.contact_sheet([(data / st.file, f"{st.score:.3f} sh{st.sharpness:.0f} ex{st.exposure:.2f} {st.evidence}")
                                  for st in s.stills], work / SHEETS / f"{folders[s.character]}.jpg", CELL_WIDTH, COLUMNS)


def page(out: Path, meta) -> Page:
    art = load(out, StillsArtifact.FILE, StillsArtifact)
    return Page(shard_title(meta.step, meta), [StillsArtifact.FILE], BODY,
                {"art": art, "total": sum(len(s.stills) for s in art.sets), "folders": _folder(art)})
