"""step2-shot-reference: the bible's reference shots, one extracted frame each, gathered.

Input (spec): ``inputs.step2-bible`` (bible.json) and one input per distinct reference shot
(named ``frame/<video>-<t>``, nix/steps.nix ``fanOut``): the output of a reference-frame derivation (``tools/step2_reference_frame.py``:
``frame.json`` + ``frame.png``). Nix makes one such derivation per shot, so this gathering step
depends on the bible and the frames it uses, never on the list of videos.

For every reference shot {video id, t seconds} of every character and place, in bible order,
the frame is copied to ``characters/<name>/<video>-<t>.png`` or ``places/<name>/<video>-<t>.png``
and listed with its subject. A shot without its frame input (the spec and the bible disagree)
fails with exit status 2 naming the bible field.

Output (``$out``): ``references.json`` (:class:`reelset.schemas.references.ShotReferenceArtifact`),
the PNGs, ``meta.json``. The contact sheet of the report is made by the report derivation.

Run by hand: ``python tools/step2_shot_reference.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from reelset import ReelsetError
from reelset.declare import FanOut, Step
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.references import ExtractedFrame, ReferenceFrame, ShotReferenceArtifact
from reelset.step import Context, StepResult, log, main, read_artifact, write_json

# fan_out: one derivation per distinct reference shot (video + t) extracts its frame (inputs frame/<video>-<t>)
STEP = Step(name="step2-shot-reference", device="cpu", level="dataset", script="step2_shot_reference.py",
            inputs={"step2-bible": BibleArtifact},
            fan_out=FanOut(source="step2-bible", artifact="bible.json", select="shots", script="step2_reference_frame.py",
                           part="frame", attr="frames", input="frame/"))


def slug(text: str) -> str:
    """File-system-safe folder name for a subject ('Sterling Archer' → 'Sterling_Archer')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs = ctx.spec, ctx.out, ctx.timer, ctx.inputs
    art = inputs["step2-bible"]
    extracted: dict[tuple[str, float], tuple[Path, ExtractedFrame]] = {}
    for name, path in spec.inputs.items():
        if name.startswith("frame/"):  # one extracted frame per reference shot (nix/steps.nix fanOut)
            f = read_artifact(Path(path) / ExtractedFrame.FILE, ExtractedFrame)
            extracted[(f.video, f.t)] = (Path(path), f)
    result: list[ReferenceFrame] = []
    with timer.phase("gather"):
        for kind, group in (("character", art.bible.characters), ("place", art.bible.places)):
            for i, entry in enumerate(group):
                for j, shot in enumerate(entry.reference_shots):
                    if (shot.video, shot.t) not in extracted:
                        raise ReelsetError(f"{art.source}: {kind}s[{i}].reference_shots[{j}]: no extracted frame for "
                                           f"{shot.video} @ {shot.t} s in the spec (nix/pipeline.nix makes one per shot)")
                    src, f = extracted[(shot.video, shot.t)]
                    rel = Path(f"{kind}s") / slug(entry.name) / f"{shot.video}-{shot.t:.3f}.png"
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src / f.image, out / rel)
                    result.append(ReferenceFrame(subject=entry.name, kind=kind, video=shot.video, t=shot.t,
                                                 frame_index=f.frame_index, frame_t=f.frame_t, image=rel.as_posix(),
                                                 width=f.width, height=f.height, note=shot.note))
    write_json(out / "references.json", ShotReferenceArtifact(frames=result))
    videos = {f.video for f in result}
    log(f"{len(result)} reference frames from {len(videos)} videos")
    return StepResult(counts={"frames": len(result), "subjects": len({(f.kind, f.subject) for f in result}), "videos": len(videos)})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
