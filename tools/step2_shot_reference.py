"""step2-shot-reference: extract the bible's reference shots from the source videos.

Input (spec): ``inputs.step2-bible`` (bible.json), ``videos`` (every source video of the
dataset by id; Nix passes them because the step declares ``videos = true``).

For every reference shot {video id, t seconds} of every character and place, the frame
shown at t (the last frame whose presentation time is <= t) is decoded exactly and written
as PNG in square pixels (width x SAR). Errors (exit status 2) name the bible field:
``bible.yaml: characters[1].reference_shots[0].video: unknown video id 'ep9' (dataset has
demo01)`` or ``….t: 31.0 s is past the end of demo01 (24.000 s)``.

Output (``$out``): ``references.json`` (:class:`reelset.schemas.references.ShotReferenceArtifact`),
``characters/<name>/<video>-<t>.png``, ``places/<name>/<video>-<t>.png``,
``contact_sheet.jpg`` (all frames in a labelled grid), ``meta.json``, ``index.html``
(the contact sheet grouped per character/place).

Run by hand: ``python tools/step2_shot_reference.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import re
from pathlib import Path

import PIL

from reelset import ReelsetError, frames, media
from reelset.schemas.base import StepMeta, StepSpec
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.references import ReferenceFrame, ShotReferenceArtifact
from reelset.step import StepResult, Timer, log, main, read_artifact, write_json

STEP = "step2-shot-reference"

BODY = """
<h2>{{ art.frames|length }} reference frames</h2>
<p><a href="{{ art.contact_sheet }}"><img src="{{ art.contact_sheet }}" alt="contact sheet" style="max-width:100%"></a></p>
{% for subject, items in groups %}<h2>{{ subject }}</h2><div class="grid">
{% for f in items %}<div class="card"><a href="{{ f.image }}"><img src="{{ f.image }}" alt="{{ f.subject }}"></a>
<div>{{ f.video }} @ {{ f.t }} s → frame {{ f.frame_index }} ({{ '%.3f'|format(f.frame_t) }} s) {{ f.width }}x{{ f.height }}
{% if f.note %}<br><span class="muted">{{ f.note }}</span>{% endif %}</div></div>{% endfor %}</div>
{% endfor %}
"""


def slug(text: str) -> str:
    """File-system-safe folder name for a subject ('Sterling Archer' → 'Sterling_Archer')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def run(spec: StepSpec, out: Path, timer: Timer) -> StepResult:
    bible_dir = spec.inputs.get("step2-bible")
    if bible_dir is None:
        raise ReelsetError(f"{STEP}: spec has no inputs.step2-bible")
    art = read_artifact(Path(bible_dir) / "bible.json", BibleArtifact)
    bible = art.bible
    probes: dict[str, tuple] = {}
    result: list[ReferenceFrame] = []
    with timer.phase("extract"):
        for kind, group in (("character", bible.characters), ("place", bible.places)):
            for i, entry in enumerate(group):
                for j, shot in enumerate(entry.reference_shots):
                    where = f"{art.source}: {kind}s[{i}].reference_shots[{j}]"
                    if shot.video not in spec.videos:
                        raise ReelsetError(f"{where}.video: unknown video id '{shot.video}' "
                                           f"(dataset.toml has {', '.join(sorted(spec.videos)) or 'no videos'})")
                    src = Path(spec.videos[shot.video])
                    if shot.video not in probes:
                        probes[shot.video] = media.probe_video(src)
                    info, times = probes[shot.video]
                    last_end = times[-1] + (1 / info.fps if info.fps else 0)
                    if shot.t >= min(info.duration_s, last_end):
                        raise ReelsetError(f"{where}.t: {shot.t} s is past the end of video {shot.video} "
                                           f"({min(info.duration_s, last_end):.3f} s)")
                    try:
                        idx = frames.frame_at(times, shot.t)
                    except ReelsetError as exc:
                        raise ReelsetError(f"{where}.t: {exc}") from exc
                    rel = Path(f"{kind}s") / slug(entry.name) / f"{shot.video}-{shot.t:.3f}.png"
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    height = info.height - info.height % 2
                    frames.extract_frame(src, times[idx], times[idx + 1] if idx + 1 < len(times) else None,
                                         out / rel, info.display_width, height)
                    result.append(ReferenceFrame(subject=entry.name, kind=kind, video=shot.video, t=shot.t,
                                                 frame_index=idx, frame_t=round(times[idx], 6), image=rel.as_posix(),
                                                 width=info.display_width, height=height, note=shot.note))
    with timer.phase("contact_sheet"):
        frames.contact_sheet([(out / f.image, f"{f.subject} {f.video}@{f.t}s") for f in result], out / "contact_sheet.jpg")
    artifact = ShotReferenceArtifact(frames=result, contact_sheet="contact_sheet.jpg")
    write_json(out / "references.json", artifact)
    log(f"{len(result)} reference frames from {len(probes)} videos")
    groups: dict[str, list[ReferenceFrame]] = {}
    for f in result:
        groups.setdefault(f"{f.kind}: {f.subject}", []).append(f)
    meta = StepMeta(step=STEP, dataset=spec.dataset, tool_sha256="", device="cpu",
                    counts={"frames": len(result), "subjects": len(groups), "videos": len(probes)},
                    versions={"ffmpeg": media.program_version("ffmpeg"), "pillow": PIL.__version__})
    return StepResult(meta=meta, title=f"{STEP} · {spec.dataset}", body_template=BODY,
                      files=["references.json", "contact_sheet.jpg"],
                      context={"art": artifact, "groups": list(groups.items())})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
