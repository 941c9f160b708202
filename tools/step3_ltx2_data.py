"""step3-ltx2-data: the reviewed clip set as an LTX-2 trainer dataset (Lightricks/LTX-2
``packages/ltx-trainer``), with every clip accounted for.

Input (spec): ``inputs.step2-reviewed`` (a folder with ``reviewed.json``,
:class:`reelset.schemas.reviewed.ReviewedArtifact`), ``config.ltx2``
(:class:`reelset.families.ltx2.config.Ltx2Config`: target fps, buckets, metadata format).

Trainer rules applied (ltx-trainer ``docs/dataset-preparation.md`` and
``scripts/process_videos.py``):

- a resolution bucket is ``WxHxF``; W and H are multiples of 32 (VAE spatial factor) and
  F satisfies F % 8 == 1 (VAE temporal factor 8: 1, 9, 17, 25, …, 97, 121);
- a video goes to the bucket of nearest aspect ratio (distance of log(W/H)) among buckets
  with F <= its frames; ties prefer more frames, then the larger area; a video shorter than
  every bucket is skipped by the trainer — here it is dropped *with its reason* instead;
- no silent upscaling (reelset's rule, docs/datasets.md "Written sizes"): a source smaller than
  its bucket is written at the bucket scaled down to fit it, same aspect, W and H rounded down to
  multiples of 32, labelled by that size (``448x256x97`` for a 480x270 source at ``960x544x97``;
  the manifest's ``scaled_from`` names the bucket), unless ``upscale = true``;
- the video is resized with its aspect kept until it covers the bucket, center-cropped, and
  its first F frames are taken; the trainer's docs tell users to split long scenes first, so
  reelset packages each reviewed clip as windows (``windows`` of ``[ltx2]``,
  :func:`reelset.package.plan_windows`): every window is one item of F frames, its own file;
- the metadata file is CSV, JSON or JSONL with columns ``caption`` and ``video`` (legacy
  ``media_path``); media paths are resolved relative to the metadata file's folder;
- ``process_dataset.py --lora-trigger`` prepends a trigger word to each caption; the
  captions written here already start with the bible's trigger word (reelset's policy for
  every family, :func:`reelset.captiontext.caption_for`, so step4-ltx2-preprocess encodes the
  same text), hence the printed command has no ``--lora-trigger``: passing it would double
  the word.

Each clip is resampled to the target fps (24 or 25) first, so the frame count the trainer
sees is the one written here; the trainer then finds exactly one bucket's frames and size.

Output (``$out``):
- ``dataset/videos/<item_id>.mp4`` (``<clip_id>-wNN``: window NN of the clip): H.264 yuv420p, exactly F frames at the target fps,
  W x H of its bucket, square pixels, AAC when ``audio`` and the clip has sound;
- ``dataset/dataset.json`` (or ``.jsonl`` / ``.csv``): ``{"caption", "video"}`` per kept item,
  ``video`` relative to that file (``videos/<item_id>.mp4``); an audio item's caption quotes only
  the lines spoken inside its window — pass it to
  ``process_dataset.py`` with ``--resolution-buckets`` from ``manifest.json`` (the
  ``buckets`` of its ``config``);
- ``manifest.json`` (:class:`reelset.schemas.manifest.PackageManifest`): every clip of reviewed.json
  with its fate (kept: bucket, frames/size/fps written, source frames trimmed; dropped: why);
- ``meta.json`` (no timings: the output is
  bit-identical across rebuilds; timings are in the build log).

Per video (``perVideo`` in nix/steps.nix): with ``video_id`` (the input is that video's part
of reviewed.json) the tool encodes that video's clips and writes its ``manifest.json`` only; the
dataset's derivation, with inputs ``shards/<video id>``, encodes nothing: it links each kept clip
file from its shard and writes the dataset.json and manifest — the same bytes as one process over
the whole reviewed.json.

Run by hand: ``python tools/step3_ltx2_data.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

from reelset import media, package
from reelset.declare import Step, per_family
from reelset.families import Family
from reelset.families.ltx2.config import Ltx2Config
from reelset.step import Context, StepResult, main, write_json

INPUTS = package.INPUTS


def plan(cfg: Ltx2Config):
    """The planner of :func:`reelset.package.package_clips` for ``cfg``'s buckets: the trainer's
    bucket choice, then the written size (:func:`reelset.package.fit_size`: no upscaling unless
    ``cfg.upscale``; a bucket scaled down to a smaller source is labelled by its written size)."""
    buckets = [package.parse_size(b) for b in cfg.buckets]
    shortest = min(f for _, _, f in buckets)

    def choose(src: package.SourceClip, available: int) -> package.Plan:
        fitting = [b for b in buckets if b[2] <= available]
        if not fitting:
            return (f"too short: {available} frames at {cfg.fps} fps ({src.frames} frames at "
                    f"{float(src.fps):g} fps) < {shortest} frames of the shortest bucket")
        bw, bh, f = min(fitting, key=lambda b: (package.aspect_distance(src.width, src.height, b[0], b[1]), -b[2], -b[0] * b[1]))
        size = package.fit_size(src, bw, bh, cfg.SIZE_MULTIPLE, cfg.upscale)
        if isinstance(size, str):
            return size
        w, h = size
        return w, h, f, f"{w}x{h}x{f}", "" if (w, h) == (bw, bh) else f"{bw}x{bh}x{f}"

    return choose


def write_metadata(folder: Path, fmt: str, rows: list[dict[str, str]]) -> str:
    """Write ``dataset.<fmt>`` in ``folder`` with ``caption``/``video`` rows; its file name."""
    name = f"dataset.{fmt}"
    if fmt == "json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["caption", "video"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    (folder / name).write_text(text, encoding="utf-8")
    return name


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs = ctx.spec, ctx.out, ctx.timer, ctx.inputs
    cfg = ctx.config["ltx2"]
    reviewed = package.reviewed_of(spec, inputs)
    clips = package.clips_for(spec, reviewed, out, Fraction(cfg.fps), plan(cfg), cfg, cfg.crf, cfg.preset, cfg.audio, timer,
                              sections=cfg.audio_captions and cfg.audio)
    if spec.video_id is not None:  # a per-video shard: its clips and their entries, for the gathering
        return package.shard_result("ltx2", spec, reviewed, cfg, out, clips)
    package.require_kept(reviewed, clips)
    kept = [c for c in clips if c.fate == "kept"]
    rows = [{"caption": c.caption, "video": Path(c.file).relative_to(package.PACKAGE_DIR).as_posix()} for c in kept]
    name = write_metadata(out / package.PACKAGE_DIR, cfg.metadata_format, rows)
    art = package.manifest("ltx2", spec, reviewed, cfg, [f"{package.PACKAGE_DIR}/{name}"], clips)
    write_json(out / "manifest.json", art)
    return StepResult(counts={"clips": len({c.clip_id for c in clips}), "kept": art.kept, "dropped": art.dropped,
                              "frames_written": art.frames_written, "source_frames_trimmed": art.source_frames_trimmed},
                      versions={"ffmpeg": media.program_version("ffmpeg")})


def declare(family: Family) -> Step:
    """The package step of model family ``family`` (reelset.declare; collected into nix/steps.json
    once per family by tools/gen_docs.py)."""
    return Step(name=family.package_step, device="cpu", level="dataset", script=family.package_script,
                inputs=dict(INPUTS), config={family.name: family.package_config}, per_video=True,
                opt_in=None if family.in_all else family.name, family=family.name, role="package")


if __name__ == "__main__":
    raise SystemExit(main(per_family(declare), run, Path(__file__)))
