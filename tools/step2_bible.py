"""step2-bible: validate and normalize the series bible of a dataset.

Input (spec): ``files.bible`` (the dataset's ``bible.yaml``, copied into the store by Nix;
see :class:`reelset.schemas.bible.Bible` for its fields: characters with aliases, visual
description, voice notes, known mis-hearings and reference shots {video id, t seconds};
places; glossary; LoRA trigger word; caption style rules).

Output (``$out``): ``bible.json`` (:class:`reelset.schemas.bible.BibleArtifact`: the normalized
bible + a flat list of every spelling with its canonical owner), ``meta.json``. Errors (exit status 2, nothing written): ``error: <file>: <yaml path>
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
from reelset.declare import File, Step
from reelset.step import Context, StepResult, log, main, write_json

STEP = Step(name="step2-bible", device="cpu", level="dataset", script="step2_bible.py",
            files={"bible": File(key="bible.file", default="bible.yaml")})

def run(ctx: Context) -> StepResult:
    spec, out, timer = ctx.spec, ctx.out, ctx.timer
    bible_path = spec.files.get("bible")
    if bible_path is None:
        raise ReelsetError(f"{STEP}: spec has no files.bible (the dataset's bible.yaml)")
    path = Path(bible_path)
    name = spec.file_name("bible")
    with timer.phase("validate"):
        artifact = make_artifact(path, name)
    write_json(out / "bible.json", artifact)
    b = artifact.bible
    shots = sum(len(e.reference_shots) for e in [*b.characters, *b.places])
    log(f"bible: {len(b.characters)} characters, {len(b.places)} places, {len(b.glossary)} glossary terms, {shots} reference shots")
    return StepResult(counts={"characters": len(b.characters), "places": len(b.places), "glossary": len(b.glossary),
                              "reference_shots": shots, "terms": len(artifact.terms)},
                      versions={"pyyaml": yaml.__version__})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
