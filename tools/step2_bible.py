"""step2-bible: validate and normalize the series bible of a dataset.

Input (spec): ``files.bible`` (the dataset's ``bible.yaml``, copied into the store by Nix;
see :class:`reelset.schemas.bible.Bible` for its fields: characters with aliases, visual
description, voice notes, known mis-hearings and reference shots {video id, t seconds};
places; glossary; LoRA trigger word; caption style rules).

Output (``$out``): ``bible.json`` (:class:`reelset.schemas.bible.BibleArtifact`: the normalized
bible + a flat list of every spelling with its canonical owner), ``meta.json``,
``index.html``. Errors (exit status 2, nothing written): ``error: <file>: <yaml path>
(line N): <reason>`` for unknown keys, missing names, bad timestamps, duplicate names, …

This step reads only the bible: editing bible.yaml re-runs it and the steps that read
bible.json, never step1-scenes or step2-transcript-base.

Run by hand: ``python tools/step2_bible.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from reelset import ReelsetError
from reelset.bible import make_artifact
from reelset.schemas.base import StepMeta, StepSpec
from reelset.step import StepResult, Timer, log, main, write_json

STEP = "step2-bible"

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


def run(spec: StepSpec, out: Path, timer: Timer) -> StepResult:
    bible_path = spec.files.get("bible")
    if bible_path is None:
        raise ReelsetError(f"{STEP}: spec has no files.bible (the dataset's bible.yaml)")
    path = Path(bible_path)
    name = path.name[33:] if str(path.parent) == "/nix/store" and len(path.name) > 33 else path.name
    with timer.phase("validate"):
        artifact = make_artifact(path, name)
    write_json(out / "bible.json", artifact)
    b = artifact.bible
    shots = sum(len(e.reference_shots) for e in [*b.characters, *b.places])
    log(f"bible: {len(b.characters)} characters, {len(b.places)} places, {len(b.glossary)} glossary terms, {shots} reference shots")
    meta = StepMeta(step=STEP, dataset=spec.dataset, tool_sha256="", device="cpu",
                    counts={"characters": len(b.characters), "places": len(b.places), "glossary": len(b.glossary),
                            "reference_shots": shots, "terms": len(artifact.terms)},
                    versions={"pyyaml": yaml.__version__})
    return StepResult(meta=meta, title=f"{STEP} · {spec.dataset}", body_template=BODY, files=["bible.json"],
                      context={"b": b, "art": artifact, "terms": len(artifact.terms)})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
