"""Report of step2-shot-reference (index.html of tools/step2_shot_reference.py's output): the
contact sheet (made here: it exists only for people) and the frames grouped per subject."""

from __future__ import annotations

from pathlib import Path

from reelset import frames
from reelset.reports import Page, load, shard_title
from reelset.schemas.references import ShotReferenceArtifact

BODY = """
<h2>{{ art.frames|length }} reference frames</h2>
<p><a href="contact_sheet.jpg"><img src="contact_sheet.jpg" alt="contact sheet" style="max-width:100%"></a></p>
{% for subject, items in groups %}<h2>{{ subject }}</h2><div class="grid">
{% for f in items %}<div class="card"><a href="{{ f.image }}"><img src="{{ f.image }}" alt="{{ f.subject }}"></a>
<div>{{ f.video }} @ {{ f.t }} s → frame {{ f.frame_index }} ({{ '%.3f'|format(f.frame_t) }} s) {{ f.width }}x{{ f.height }}
{% if f.note %}<br><span class="muted">{{ f.note }}</span>{% endif %}</div></div>{% endfor %}</div>
{% endfor %}
"""


def write_extras(data: Path, work: Path, config: dict) -> None:
    """Write ``work/contact_sheet.jpg``: every reference frame in a labelled grid (``config``: unused)."""
    del config
    art = load(data, "references.json", ShotReferenceArtifact)
    frames.contact_sheet([(data / f.image, f"{f.subject} {f.video}@{f.t}s") for f in art.frames], work / "contact_sheet.jpg")


def page(out: Path, meta) -> Page:
    art = load(out, "references.json", ShotReferenceArtifact)
    groups: dict[str, list] = {}
    for f in art.frames:
        groups.setdefault(f"{f.kind}: {f.subject}", []).append(f)
    return Page(shard_title("step2-shot-reference", meta), ["references.json", "contact_sheet.jpg"], BODY,
                {"art": art, "groups": list(groups.items())})
