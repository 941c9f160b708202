"""step4-<family>-preprocess (step4-ltx2-preprocess, step4-wan21-preprocess, …): VAE latents and
text embeddings of every packaged clip, so training never loads the VAE or the text encoder.

The family is the one whose preprocess step is the spec's step (:mod:`reelset.families`).
Input (spec): ``inputs.<the family's package step>`` (a package with ``manifest.json``,
:class:`reelset.schemas.manifest.PackageManifest`), ``models.base`` (a diffusers pipeline folder:
LTX2Pipeline / WanPipeline), ``config.<family>_preprocess`` (the family's
``preprocess_config``, a :class:`reelset.schemas.latents.PreprocessConfig`).

For each kept clip, the family's model module's ``encode_clip`` (:mod:`reelset.families.ltx2.model`,
:mod:`reelset.wan`) gives its records by folder, written with the family's ``save_record`` as
``<folder>/<media path in the package, extension replaced>``, e.g.
``latents/videos/<item_id>.pt``:

- LTX-2: the layout and keys of the LTX-2 trainer's ``.precomputed/`` (``.pt`` files in
  ``latents/``, ``conditions/`` and, with ``audio = true`` for clips with sound,
  ``audio_latents/``; text features before the connectors), so its ``scripts/train.py`` trains
  on this folder as ``data.preprocessed_data_root`` (``reelset export --for ltx2-trainer``);
- Wan 2.1: safetensors in ``latents/`` and ``conditions/`` (reelset's format; how it differs
  from musubi-tuner's cache is in :mod:`reelset.wan`).

What each key holds is in the family module's docstring. Latents are the VAE posterior's mode
(no sampling), so the output is the same on every run on the same device.

Output: those folders, ``latents.json`` (:class:`reelset.schemas.latents.LatentIndex`: files,
shapes and dtypes of every clip), ``meta.json``.

Errors (exit 2, nothing written): missing/invalid manifest, a packaged clip missing, a clip
the model cannot encode (the family module names the file and the reason).

Run by hand: ``python tools/step4_preprocess.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from reelset import ReelsetError, families, train
from reelset.declare import Step, base_model, per_family
from reelset.families import Family
from reelset.schemas.device import DeviceConfig
from reelset.schemas.latents import LatentClip, LatentIndex
from reelset.schemas.manifest import PackageManifest
from reelset.step import Context, StepResult, log, main, read_artifact, write_json


def record_name(file: str, package_dir: str) -> PurePosixPath:
    """The file name (without suffix) of a clip's records: its media path relative to the package
    folder, extension dropped (``dataset/videos/x.mp4`` -> ``videos/x``): ltx-trainer's
    ``process_videos.py`` names its outputs after the path in ``dataset.json`` the same way."""
    return PurePosixPath(file).relative_to(package_dir).with_suffix("")


def describe(record: dict) -> tuple[dict[str, list[int]], dict[str, str]]:
    """(shapes, dtypes) of a record's values: tensors by shape and torch dtype name, Python
    scalars as shape [] and their type name ('int', 'float')."""
    import torch

    shapes, dtypes = {}, {}
    for k, v in record.items():
        if isinstance(v, torch.Tensor):
            shapes[k], dtypes[k] = list(v.shape), str(v.dtype).removeprefix("torch.")
        else:
            shapes[k], dtypes[k] = [], type(v).__name__
    return shapes, dtypes


def run(ctx: Context) -> StepResult:
    spec, out, timer, policy = ctx.spec, ctx.out, ctx.timer, ctx.policy
    import torch

    fam = families.of_step(spec.step)
    section = fam.preprocess_section
    cfg = ctx.config[section]
    pkg_step = fam.package_step
    if pkg_step not in spec.inputs:
        raise ReelsetError(f"{spec.step}: spec has no input {pkg_step}")
    if "base" not in spec.models:
        raise ReelsetError(f"{spec.step}: spec has no models.base (set `model` in [{section}])")
    pkg = Path(spec.inputs[pkg_step])
    manifest = read_artifact(pkg / "manifest.json", PackageManifest)
    kept = [c for c in manifest.clips if c.fate == "kept"]
    for c in kept:
        if not c.file or not (pkg / c.file).is_file():
            raise ReelsetError(f"{pkg / 'manifest.json'}: item {c.item_id} is kept but its file {c.file} is missing")
    family = fam.model()
    device, dtype = train.device_and_dtype(policy)
    model = spec.models["base"]
    with timer.phase("load"), train.Heartbeat(f"{spec.step}: loading {model.name} ({family.PIPELINE_CLASS}, encode parts) on {device}"):
        pipe = family.load_pipeline(Path(model.path), device=device, dtype=dtype, parts="encode")
    clips = []
    with timer.phase("encode"), torch.no_grad():
        for i, c in enumerate(kept):
            try:
                records = family.encode_clip(pipe, pkg / c.file, c.caption or "", audio=cfg.audio,
                                             max_text_tokens=cfg.max_text_tokens, device=device, dtype=dtype)
            except ValueError as exc:  # the family names the file and the reason
                raise ReelsetError(f"{spec.step}: item {c.item_id}: {exc}") from exc
            name = record_name(c.file, manifest.package_dir)
            files, shapes, dtypes = {}, {}, {}
            for kind, record in records.items():
                rel = f"{kind}/{name}{family.FILE_SUFFIX}"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                family.save_record(out / rel, record)
                files[kind] = rel
                s, d = describe(record)
                shapes.update({f"{kind}/{k}": v for k, v in s.items()})
                dtypes.update({f"{kind}/{k}": v for k, v in d.items()})
            clips.append(LatentClip(item_id=c.item_id, clip_id=c.clip_id, bucket=c.bucket, caption=c.caption or "", width=c.width,
                                    height=c.height, frames=c.frames, fps=c.fps, files=files, shapes=shapes,
                                    dtypes=dtypes))
            log(f"{spec.step}: {i + 1}/{len(kept)} {c.item_id} " + ", ".join(f"{k} {v}" for k, v in shapes.items() if v))
    idx = LatentIndex(family=fam.name, dataset=spec.dataset, model=model, config=cfg.model_dump(mode="json"),
                      package=str(pkg), audio=cfg.audio, clips=clips)
    write_json(out / "latents.json", idx)
    import diffusers

    return StepResult(device=str(device), models=[model],
                      counts={"clips": len(clips), "audio_latents": sum("audio_latents" in c.files for c in clips)},
                      versions={"torch": torch.__version__, "diffusers": diffusers.__version__})


def declare(family: Family) -> Step:
    """The preprocess step of model family ``family`` (reelset.declare; collected into nix/steps.json
    once per family by tools/gen_docs.py)."""
    return Step(name=family.preprocess_step, device="cuda", level="dataset", script="step4_preprocess.py",
                inputs={family.package_step: None}, config={family.preprocess_section: family.preprocess_config, "device": DeviceConfig},
                models={"base": base_model(family)}, opt_in=f"{family.name}_preprocess", family=family.name, role="preprocess")


if __name__ == "__main__":
    raise SystemExit(main(per_family(declare), run, Path(__file__)))
