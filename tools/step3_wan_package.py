"""The package step of every Wan family (step3-wan21-package, …): the reviewed
clip set as a Wan LoRA dataset for DiffSynth-Studio, musubi-tuner and diffusion-pipe, plus one
deterministic zip of it, with every clip accounted for.

The family is the one whose ``package_step`` is the spec's step (:mod:`reelset.families`); its
``package_config`` (a :class:`reelset.schemas.wan_package.WanPackageConfig`) validates
``config.<family>`` and holds the family's fps, frame step and size multiple.

Input (spec): ``inputs.step2-reviewed`` (a folder with ``reviewed.json``,
:class:`reelset.schemas.reviewed.ReviewedArtifact`), ``config.<family>`` (fps, min/max frames,
sizes).

Trainer rules applied (numbers for Wan 2.1; another Wan family's fps, sizes and size multiple are
in its package, reelset/families/<name>/):

- frame rate 16 fps: Wan 2.1's training rate (musubi-tuner ``docs/dataset_config.md``
  recommends 16 fps videos for Wan2.1 and otherwise uses every frame as is);
- frame count 4n+1 (Wan VAE temporal factor 4; musubi-tuner truncates other counts to N*4+1,
  DiffSynth-Studio ``docs/en/Model_Details/Wan.md``: ``num_frames`` "a multiple of 4 + 1",
  default 81): each window of a clip (``windows`` of the section, :func:`reelset.package.plan_windows`;
  default 'chunk': back-to-back windows of the most 4n+1 frames up to ``max_frames``, then the rest)
  is one item; a clip with fewer than ``min_frames`` → dropped with the reason;
- width and height multiples of 16 (DiffSynth-Studio Wan.md); default sizes 832x480 and
  480x832 (Wan 2.1 480p); the nearest aspect ratio wins, the clip is scaled to cover and
  center-cropped; a source smaller than that size is written at it scaled down to fit, same
  aspect, sides rounded down to the family's multiple (no silent upscaling, unless ``upscale``:
  docs/datasets.md "Written sizes"), and the trainer configs list the written sizes;
- captions: DiffSynth-Studio reads a ``metadata.csv`` with columns ``video,prompt``, paths
  relative to ``--dataset_base_path``; musubi-tuner (``caption_extension = ".txt"``) and
  diffusion-pipe (``examples/dataset.toml``: caption file = media file name with ``.txt``)
  read a ``.txt`` sidecar next to each video;
- trigger word: every caption starts with the bible's trigger word, exactly once (the same
  policy as step3-ltx2-data, :func:`reelset.captiontext.caption_for`; these trainers have no
  trigger option);
- diffusion-pipe drops a video shorter than every ``frame_buckets`` entry and assigns the
  longest bucket not longer than the video, so its config lists every frame count written.

Output (``$out``):
- ``dataset/videos/<item_id>.mp4`` (window NN of a clip: ``<clip_id>-wNN``; H.264 yuv420p, 4n+1 frames at 16 fps, square pixels, no
  audio unless ``audio``) and ``dataset/videos/<item_id>.txt`` (its caption, one line);
- ``dataset/metadata.csv`` (``video,prompt``; ``video`` = ``videos/<item_id>.mp4``):
  ``--dataset_base_path <dataset> --dataset_metadata_path <dataset>/metadata.csv``;
- ``dataset/musubi_dataset.toml`` (families musubi-tuner trains: not Wan 2.2 TI2V-5B) and
  ``dataset/diffusion_pipe_dataset.toml``: dataset configs (reelset.trainers) whose paths
  (``videos``, ``cache``) are relative to the ``dataset`` folder — run the trainers from there
  or make the paths absolute (``reelset export`` does);
- ``<family>_dataset.zip``: the ``dataset`` folder (same files and bytes), entries sorted, dated
  1980-01-01, mode 0644 — bit-identical across rebuilds;
- ``manifest.json`` (:class:`reelset.schemas.manifest.PackageManifest`), ``meta.json``
  (no timings: see step3-ltx2-data).

Per video (``perVideo`` in nix/steps.nix): with ``video_id`` (the input is that video's part
of reviewed.json) the tool encodes that video's clips and writes its ``manifest.json`` only; the
dataset's derivation, with inputs ``shards/<video id>``, encodes nothing: it links each kept clip
file from its shard and writes the metadata.csv, sidecars, configs, zip and manifest — the same bytes as one process over
the whole reviewed.json.

Run by hand: ``python tools/step3_wan_package.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
from fractions import Fraction
from pathlib import Path

import tomli_w

from reelset import families, media, package
from reelset.declare import Step, per_family
from reelset.families import Family
from reelset.schemas.manifest import PackagedClip
from reelset.schemas.wan_package import WanPackageConfig
from reelset.step import Context, StepResult, main, write_json
from reelset.trainers import diffusion_pipe, musubi

INPUTS = package.INPUTS


def plan(cfg: WanPackageConfig):
    """The planner of :func:`reelset.package.package_clips` for ``cfg``: nearest-aspect size, then
    the written size (:func:`reelset.package.fit_size`: no upscaling unless ``cfg.upscale``)."""
    sizes = [package.parse_size(s) for s in cfg.sizes]

    def choose(src: package.SourceClip, available: int) -> package.Plan:
        n = min(available, cfg.max_frames)
        frames = n - (n - 1) % cfg.FRAME_STEP if n >= 1 else 0
        if frames < cfg.min_frames:
            return (f"too short: {available} frames at {cfg.fps:g} fps ({src.frames} frames at "
                    f"{float(src.fps):g} fps) < min_frames {cfg.min_frames}")
        sw, sh = min(sizes, key=lambda s: (package.aspect_distance(src.width, src.height, s[0], s[1]), -s[0] * s[1]))
        size = package.fit_size(src, sw, sh, cfg.SIZE_MULTIPLE, cfg.upscale)
        if isinstance(size, str):
            return size
        w, h = size
        return w, h, frames, f"{w}x{h}", "" if (w, h) == (sw, sh) else f"{sw}x{sh}"

    return choose


def write_package_files(folder: Path, cfg: WanPackageConfig, kept: list[PackagedClip], family: str) -> list[str]:
    """Caption sidecars, metadata.csv and the dataset configs of the trainers that train
    ``family`` (reelset.trainers: musubi-tuner, diffusion-pipe) in ``folder``; the names of the
    metadata/config files."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video", "prompt"])
    for c in kept:
        rel = Path(c.file).relative_to(package.PACKAGE_DIR)
        writer.writerow([rel.as_posix(), c.caption])
        (folder / rel).with_suffix(".txt").write_text(c.caption + "\n", encoding="utf-8")
    (folder / "metadata.csv").write_text(buf.getvalue(), encoding="utf-8")
    # the written sizes, largest first: with no upscaling a smaller source's items have a size of
    # their own, which the trainers' configs must keep (reelset.trainers)
    sizes = package.written_sizes(kept, cfg.sizes)
    names = ["metadata.csv"]
    if musubi.trains(family):  # musubi-tuner has no Wan 2.2 TI2V-5B task
        config = musubi.dataset_config(sizes, cfg.max_frames, "videos", "cache")
        (folder / "musubi_dataset.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
        names.append("musubi_dataset.toml")
    if diffusion_pipe.trains(family):
        config = diffusion_pipe.dataset_config(sizes, [c.frames for c in kept], "videos")
        (folder / "diffusion_pipe_dataset.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
        names.append("diffusion_pipe_dataset.toml")
    return names


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs = ctx.spec, ctx.out, ctx.timer, ctx.inputs
    family = families.of_step(spec.step)
    zip_name = f"{family.name}_dataset.zip"
    cfg = ctx.config[family.name]
    reviewed = package.reviewed_of(spec, inputs)
    fps = Fraction(cfg.fps).limit_denominator(1001)
    clips = package.clips_for(spec, reviewed, out, fps, plan(cfg), cfg, cfg.crf, cfg.preset, cfg.audio, timer)
    if spec.video_id is not None:  # a per-video shard: its clips and their entries, for the gathering
        return package.shard_result(family.name, spec, reviewed, cfg, out, clips)
    package.require_kept(reviewed, clips)
    kept = [c for c in clips if c.fate == "kept"]
    names = write_package_files(out / package.PACKAGE_DIR, cfg, kept, family.name)
    with timer.phase("zip"):
        zipped = package.write_zip(out / package.PACKAGE_DIR, out / zip_name)
    files = [f"{package.PACKAGE_DIR}/{n}" for n in names] + [zip_name]
    art = package.manifest(family.name, spec, reviewed, cfg, files, clips)
    write_json(out / "manifest.json", art)
    return StepResult(counts={"clips": len({c.clip_id for c in clips}), "kept": art.kept, "dropped": art.dropped,
                              "frames_written": art.frames_written, "source_frames_trimmed": art.source_frames_trimmed,
                              "zip_entries": zipped},
                      versions={"ffmpeg": media.program_version("ffmpeg"), "tomli-w": importlib.metadata.version("tomli-w")})


def declare(family: Family) -> Step:
    """The package step of model family ``family`` (reelset.declare; collected into nix/steps.json
    once per family by tools/gen_docs.py)."""
    return Step(name=family.package_step, device="cpu", level="dataset", script=family.package_script,
                inputs=dict(INPUTS), config={family.name: family.package_config}, per_video=True,
                opt_in=None if family.in_all else family.name, family=family.name, role="package")


if __name__ == "__main__":
    raise SystemExit(main(per_family(declare), run, Path(__file__)))
