"""step4-ltx2-preprocess / step4-wan21-preprocess: VAE latents and text embeddings of every
packaged clip, so training never loads the VAE or the text encoder.

Input (spec): ``inputs.step3-ltx2-data`` or ``inputs.step3-wan21-package`` (a package with
``manifest.json``, :class:`reelset.schemas.manifest.PackageManifest`), ``models.base`` (a diffusers
pipeline folder: LTX2Pipeline / WanPipeline), ``config.ltx2_preprocess`` /
``config.wan21_preprocess`` (:class:`reelset.schemas.latents.PreprocessConfig`).

For each kept clip, the family module's ``encode_clip`` (:mod:`reelset.ltx2`,
:mod:`reelset.wan21`) gives its tensors (no batch dimension); they are written as
safetensors, one file per kind:

- ``latents/<clip_id>.safetensors``: ``latents`` — LTX-2: (128, (F-1)/8+1, H/32, W/32) for
  the real VAE; Wan 2.1: (16, (F-1)/4+1, H/8, W/8) (F frames, W x H pixels);
- ``conditions/<clip_id>.safetensors``: the caption's text-encoder output
  (``prompt_embeds`` (L, D), ``prompt_attention_mask`` (L,), L = ``max_text_tokens``);
- ``audio_latents/<clip_id>.safetensors`` (LTX-2, ``audio = true`` and the clip has sound).

(the same three folders as the LTX-2 trainer's ``.precomputed/``; what each stores and
how it differs from the trainer is in the family module's docstring). Latents are the VAE
posterior's mode (no sampling), so the output is the same on every run on the same device.

Output: those folders, ``latents.json`` (:class:`reelset.schemas.latents.LatentIndex`: shapes, dtypes
and files of every clip), ``meta.json``.

Errors (exit 2, nothing written): missing/invalid manifest, a packaged clip missing, a clip
the model cannot encode (the family module names the file and the reason).

Run by hand: ``python tools/step4_preprocess.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

from reelset import ReelsetError, train
from reelset.schemas.base import StepMeta, StepSpec
from reelset.schemas.latents import LatentClip, LatentIndex, Ltx2PreprocessConfig, Wan21PreprocessConfig
from reelset.schemas.manifest import PackageManifest
from reelset.step import StepResult, Timer, log, main, read_artifact, write_json

PACKAGE_STEP = {"ltx2": "step3-ltx2-data", "wan21": "step3-wan21-package"}
GROUPS = ("latents", "conditions", "audio_latents")
CONFIGS = {"ltx2": Ltx2PreprocessConfig, "wan21": Wan21PreprocessConfig}

def group_of(name: str) -> str:
    """File kind of a tensor: names with ``prompt`` (``prompt_embeds``, ``audio_prompt_embeds``,
    ``prompt_attention_mask``) → conditions, other ``audio_*`` → audio_latents, else latents."""
    if "prompt" in name:
        return "conditions"
    if name.startswith("audio"):
        return "audio_latents"
    return "latents"


def run(spec: StepSpec, out: Path, timer: Timer) -> StepResult:
    import torch
    from safetensors.torch import save_file

    fam_name = train.family_of(spec.step)
    section = f"{fam_name}_preprocess"
    cfg = spec.section(section, CONFIGS[fam_name])
    pkg_step = PACKAGE_STEP[fam_name]
    if pkg_step not in spec.inputs:
        raise ReelsetError(f"{spec.step}: spec has no input {pkg_step}")
    if "base" not in spec.models:
        raise ReelsetError(f"{spec.step}: spec has no models.base (set `model` in [{section}])")
    pkg = Path(spec.inputs[pkg_step])
    manifest = read_artifact(pkg / "manifest.json", PackageManifest)
    kept = [c for c in manifest.clips if c.fate == "kept"]
    for c in kept:
        if not c.file or not (pkg / c.file).is_file():
            raise ReelsetError(f"{pkg / 'manifest.json'}: clip {c.clip_id} is kept but its file {c.file} is missing")
    family = train.load_family(fam_name)
    device, dtype = train.device_and_dtype()
    model = spec.models["base"]
    with timer.phase("load"), train.Heartbeat(f"{spec.step}: loading {model.name} ({family.PIPELINE_CLASS}, encode parts) on {device}"):
        pipe = family.load_pipeline(Path(model.path), device=device, dtype=dtype, parts="encode")
    for g in GROUPS:
        (out / g).mkdir()
    clips = []
    with timer.phase("encode"), torch.no_grad():
        for i, c in enumerate(kept):
            try:
                tensors = family.encode_clip(pipe, pkg / c.file, c.caption or "", audio=cfg.audio,
                                             max_text_tokens=cfg.max_text_tokens, device=device, dtype=dtype)
            except ValueError as exc:  # the family names the file and the reason
                raise ReelsetError(f"{spec.step}: clip {c.clip_id}: {exc}") from exc
            files = {}
            for g in GROUPS:
                part = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items() if group_of(k) == g}
                if part:
                    rel = f"{g}/{c.clip_id}.safetensors"
                    save_file(part, str(out / rel))
                    files[g] = rel
            clips.append(LatentClip(clip_id=c.clip_id, bucket=c.bucket, caption=c.caption or "", width=c.width,
                                    height=c.height, frames=c.frames, fps=c.fps, files=files,
                                    shapes={k: list(v.shape) for k, v in tensors.items()},
                                    dtypes={k: str(v.dtype).removeprefix("torch.") for k, v in tensors.items()}))
            log(f"{spec.step}: {i + 1}/{len(kept)} {c.clip_id} " + ", ".join(f"{k} {list(v.shape)}" for k, v in tensors.items()))
    for g in GROUPS:
        if not any((out / g).iterdir()):
            (out / g).rmdir()
    idx = LatentIndex(family=fam_name, dataset=spec.dataset, model=model, config=cfg.model_dump(mode="json"),
                      package=str(pkg), audio=cfg.audio, clips=clips)
    write_json(out / "latents.json", idx)
    import diffusers

    meta = StepMeta(step=spec.step, dataset=spec.dataset, tool_sha256="", device=str(device), models=[model],
                    counts={"clips": len(clips), "audio_latents": sum("audio_latents" in c.files for c in clips)},
                    versions={"torch": torch.__version__, "diffusers": diffusers.__version__})
    return StepResult(meta=meta)


if __name__ == "__main__":
    raise SystemExit(main(None, run, Path(__file__)))
