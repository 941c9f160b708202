"""step5-<family>-train (step5-ltx2-train, step5-wan21-train, …): the finished LoRA run — final LoRA, loss history and
plot, validation samples rendered with the LoRA, report.

Input (spec): ``inputs.segment-NNN`` (every segment derivation of the run, in order; see
tools/step5_train_segment.py), ``inputs.step4-<family>-preprocess``, ``models.base``,
``config.<family>_train`` (the family's ``train_config``, a :class:`reelset.schemas.train.TrainConfig`).

Output:
- ``lora.safetensors`` → symlink to the last segment's ``lora/pytorch_lora_weights.safetensors``
  (diffusers format; ``pipe.load_lora_weights(<dir of it>)``), ``lora/`` → that folder;
- ``segments/NNN`` → symlinks to every segment (per-segment LoRA + optimizer checkpoints);
- ``train.json`` (:class:`reelset.schemas.train.TrainArtifact`: config, seeds, model, loss of every
  step, wall time, samples), ``loss.png`` (per-step loss, segment boundaries dotted);
- ``samples/NN.mp4`` + ``samples/NN.png``: one text-to-video sample per
  ``validation.prompts`` entry, rendered with the base model + the final LoRA (size and frames
  from ``validation`` or the first training bucket, ``validation.steps`` denoising steps,
  ``validation.seed``);
- ``meta.json`` (the report with plot, samples and segments is its own derivation).

Errors (exit 2): the segments do not chain (gap, wrong order) or end before ``steps``.

Run by hand: ``python tools/step5_train.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

from reelset import ReelsetError, families, train
from reelset.declare import Segments, Step, base_model, per_family
from reelset.families import Family
from reelset.schemas.base import StepSpec
from reelset.schemas.device import DeviceConfig
from reelset.schemas.latents import LatentIndex
from reelset.schemas.train import TrainArtifact, TrainSample, TrainSegment
from reelset.step import Context, StepResult, log, main, read_artifact, write_json


def chain(spec: StepSpec, steps: int) -> list[tuple[Path, TrainSegment]]:
    """The segment outputs of the spec (``inputs.segment-NNN``) in order, checked to cover
    [0, steps) without gaps. ReelsetError naming the segment that breaks the chain."""
    names = sorted(k for k in spec.inputs if k.startswith("segment-"))
    if not names:
        raise ReelsetError(f"{spec.step}: spec has no inputs.segment-NNN (built by nix/pipeline.nix)")
    segs = [(Path(spec.inputs[n]), read_artifact(Path(spec.inputs[n]) / "segment.json", TrainSegment)) for n in names]
    at = 0
    for path, s in segs:
        if s.segment.start != at:
            raise ReelsetError(f"{path}/segment.json: segment {s.segment.index} starts at step {s.segment.start}, expected {at}")
        at = s.segment.end
    if at != steps:
        raise ReelsetError(f"{spec.step}: segments end at step {at}, but steps = {steps}")
    return segs


def run(ctx: Context) -> StepResult:
    spec, out, timer, policy = ctx.spec, ctx.out, ctx.timer, ctx.policy
    fam = families.of_step(spec.step)
    section = fam.train_section
    cfg = ctx.config[section]
    segs = chain(spec, cfg.steps)
    last_dir, last = segs[-1]
    pre = Path(spec.inputs[fam.preprocess_step])
    index = read_artifact(pre / "latents.json", LatentIndex)
    clips = train.select_clips(index, cfg, f"[{section}]")
    family = fam.model()
    model = spec.models["base"]

    (out / "segments").mkdir()
    for path, s in segs:
        os.symlink(path, out / "segments" / f"{s.segment.index:03d}")
    os.symlink(last_dir / train.LORA_DIR, out / train.LORA_DIR)
    os.symlink(last_dir / last.lora_file, out / "lora.safetensors")
    losses = last.losses
    train.loss_plot(out / "loss.png", [(p.step, p.loss) for p in losses], [s.segment.start for _, s in segs[1:]],
                    f"{spec.dataset} · {spec.step}")

    import torch
    from PIL import Image
    from safetensors import safe_open

    with safe_open(str(last_dir / last.lora_file), "pt") as fh:
        lora_keys = len(list(fh.keys()))
    samples: list[TrainSample] = []
    device, dtype = train.device_and_dtype(policy)
    v = cfg.validation
    if v.prompts:
        first = clips[0]
        width, height, frames = v.width or first.width, v.height or first.height, v.frames or first.frames
        with timer.phase("load"), train.Heartbeat(f"{spec.step}: loading {model.name} (all parts) + LoRA on {device}"):
            pipe = family.load_pipeline(Path(model.path), device=device, dtype=dtype, parts="all")
            pipe.load_lora_weights(str(last_dir / train.LORA_DIR))
        (out / "samples").mkdir()
        with timer.phase("samples"), torch.no_grad():
            for i, prompt in enumerate(v.prompts):
                with train.Heartbeat(f"{spec.step}: sample {i + 1}/{len(v.prompts)} ({width}x{height}x{frames}, {v.steps} steps)"):
                    res = family.generate(pipe, prompt, width=width, height=height, frames=frames, fps=first.fps,
                                          steps=v.steps, seed=v.seed, device=device)
                f = res["frames"]
                rel, poster = f"samples/{i:02d}.mp4", f"samples/{i:02d}.png"
                train.write_sample(out / rel, f, res["fps"], res.get("audio"), res.get("sample_rate"))
                Image.fromarray(f[0]).save(out / poster)
                samples.append(TrainSample(prompt=prompt, file=rel, poster=poster, width=int(f.shape[2]),
                                           height=int(f.shape[1]), frames=int(f.shape[0]), fps=float(res["fps"]),
                                           seed=v.seed, has_audio=res.get("audio") is not None))
                log(f"{spec.step}: sample {i + 1}: {f.shape[0]} frames {f.shape[2]}x{f.shape[1]}")
    art = TrainArtifact(family=index.family, dataset=spec.dataset, config=cfg.model_dump(mode="json"), model=model,
                        latents=str(pre), seed=cfg.seed, steps=cfg.steps, segments=[str(p) for p, _ in segs],
                        lora_file="lora.safetensors", lora_sha256=last.lora_sha256, lora_keys=lora_keys, losses=losses,
                        samples=samples)
    write_json(out / "train.json", art)
    import diffusers

    return StepResult(device=str(device), models=[model],
                      counts={"steps": cfg.steps, "segments": len(segs), "samples": len(samples), "lora_keys": lora_keys},
                      versions={"torch": torch.__version__, "diffusers": diffusers.__version__})


def declare(family: Family) -> Step:
    """The train step of model family ``family`` (reelset.declare; collected into nix/steps.json
    once per family by tools/gen_docs.py). A chain of segment derivations (step5_train_segment.py) does the training."""
    return Step(name=family.train_step, device="cuda", level="dataset", script="step5_train.py",
                inputs={family.preprocess_step: None}, config={family.train_section: family.train_config, "device": DeviceConfig},
                # the model the latents were made with (step5 checks that they match)
                models={"base": base_model(family)}, opt_in=f"{family.name}_train", family=family.name, role="train",
                segments=Segments(section=f"{family.name}_train", script="step5_train_segment.py"))


if __name__ == "__main__":
    raise SystemExit(main(per_family(declare), run, Path(__file__)))
