"""step5-<family>-train (step5-ltx2-train, step5-wan21-train, …): the finished LoRA run — final LoRA, loss history and
plot, validation samples rendered with the LoRA, report.

Input (spec): ``inputs.segment-NNN`` (every segment derivation of the run, in order; see
tools/step5_train_segment.py), ``inputs.step4-<family>-preprocess``, ``models.base``,
``config.<family>_train`` (the family's ``train_config``, a :class:`reelset.schemas.train.TrainConfig`).

Output (a family with several experts, Wan 2.2 A14B: ``lora.safetensors``, ``lora/`` and
``segments/`` per trained expert in ``<expert>/``, its segments given as ``inputs.segment-<expert>-NNN``;
one loss plot with every expert's curve; samples with each expert's LoRA on its own component):
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
from reelset.schemas.train import ExpertRun, TrainArtifact, TrainSample, TrainSegment
from reelset.step import Context, StepResult, log, main, read_artifact, write_json


def chains(spec: StepSpec, steps: int, own_steps: dict[str, int] | None = None) -> dict[str | None, list[tuple[Path, TrainSegment]]]:
    """The segment outputs of the spec by chain, each in order: ``inputs.segment-NNN`` (one chain,
    key None) or ``inputs.segment-<expert>-NNN`` (one chain per expert, nix/pipeline.nix
    ``segmentsOf``), each checked to cover [0, steps) without gaps — ``own_steps[<expert>]`` where
    the expert has its own (``expert_steps``) — and to hold its chain's segments. ReelsetError
    naming the segment that breaks a chain."""
    names = sorted(k for k in spec.inputs if k.startswith("segment-"))
    if not names:
        raise ReelsetError(f"{spec.step}: spec has no inputs.segment-NNN (built by nix/pipeline.nix)")
    grouped: dict[str | None, list[str]] = {}
    for n in names:
        name, _, _ = n.removeprefix("segment-").rpartition("-")
        grouped.setdefault(name or None, []).append(n)
    out: dict[str | None, list[tuple[Path, TrainSegment]]] = {}
    for name, keys in grouped.items():
        segs = [(Path(spec.inputs[k]), read_artifact(Path(spec.inputs[k]) / "segment.json", TrainSegment)) for k in keys]
        at = 0
        for path, s in segs:
            if s.segment.start != at or s.segment.chain != name:
                raise ReelsetError(f"{path}/segment.json: segment {s.segment.index} of chain {s.segment.chain} starts at step "
                                   f"{s.segment.start}, expected step {at} of chain {name}")
            at = s.segment.end
        want = (own_steps or {}).get(name, steps)
        if at != want:
            raise ReelsetError(f"{spec.step}: segments{'' if name is None else ' of ' + name} end at step {at}, but steps = {want}")
        out[name] = segs
    return out


def link_run(out: Path, segs: list[tuple[Path, TrainSegment]]) -> None:
    """Links of one run in ``out``: ``segments/NNN`` (every segment), ``lora/`` and
    ``lora.safetensors`` (the last segment's)."""
    last_dir, last = segs[-1]
    (out / "segments").mkdir(parents=True)
    for path, s in segs:
        os.symlink(path, out / "segments" / f"{s.segment.index:03d}")
    os.symlink(last_dir / train.LORA_DIR, out / train.LORA_DIR)
    os.symlink(last_dir / last.lora_file, out / "lora.safetensors")


def run(ctx: Context) -> StepResult:
    spec, out, timer, policy = ctx.spec, ctx.out, ctx.timer, ctx.policy
    fam = families.of_step(spec.step)
    section = fam.train_section
    cfg = ctx.config[section]
    own_steps = getattr(cfg, "expert_steps", {})  # a family with several experts: an expert's own steps
    runs = chains(spec, cfg.steps, own_steps)
    wanted = getattr(cfg, "experts", None)  # a family with several experts: the chains trained
    if wanted is not None and set(runs) != set(wanted):
        raise ReelsetError(f"{spec.step}: the spec holds segments of {sorted(map(str, runs))} but [{section}] experts = "
                           f"{wanted}; nix/pipeline.nix makes one chain per entry")
    pre = Path(spec.inputs[fam.preprocess_step])
    index = read_artifact(pre / "latents.json", LatentIndex)
    clips = train.select_clips(index, cfg, f"[{section}]")
    family = fam.model()
    model = spec.models["base"]

    import torch
    from PIL import Image
    from safetensors import safe_open

    # one run (key None), or one per trained expert in the family's order: each linked into its
    # own folder <expert>/ (segments/, lora/, lora.safetensors), the LoRA on the expert's component
    experts = [train.expert_of(fam, name, f"[{section}]") for name in runs]
    order = [e.name for e in fam.experts]
    trained = sorted(zip(experts, runs.values(), strict=True), key=lambda r: order.index(r[0].name))
    several = None not in runs
    expert_runs: list[ExpertRun] = []
    loras: dict[str, Path] = {}
    for expert, segs in trained:
        where = out / expert.name if several else out
        link_run(where, segs)
        last_dir, last = segs[-1]
        loras[expert.component] = last_dir / train.LORA_DIR
        with safe_open(str(last_dir / last.lora_file), "pt") as fh:
            keys = len(list(fh.keys()))
        prefix = f"{expert.name}/" if several else ""
        expert_runs.append(ExpertRun(name=expert.name, component=expert.component, low=expert.low, high=expert.high,
                                     steps=own_steps.get(expert.name, cfg.steps), segments=[str(p) for p, _ in segs],
                                     lora_file=f"{prefix}lora.safetensors",
                                     lora_sha256=last.lora_sha256, lora_keys=keys, losses=last.losses))
    first_segs = trained[0][1]
    train.loss_plot(out / "loss.png", {r.name: [(p.step, p.loss) for p in r.losses] for r in expert_runs},
                    [s.segment.start for _, s in first_segs[1:]], f"{spec.dataset} · {spec.step}")

    samples: list[TrainSample] = []
    device, dtype = train.device_and_dtype(policy)
    v = cfg.validation
    if v.prompts:
        first = clips[0]
        width, height, frames = v.width or first.width, v.height or first.height, v.frames or first.frames
        with timer.phase("load"), train.Heartbeat(f"{spec.step}: loading {model.name} (all parts) + LoRA on {device}"):
            pipe = family.load_pipeline(Path(model.path), device=device, dtype=dtype, parts="all")
            family.load_loras(pipe, loras)
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
    main_run = expert_runs[0]
    art = TrainArtifact(family=index.family, dataset=spec.dataset, config=cfg.model_dump(mode="json"), model=model,
                        latents=str(pre), seed=cfg.seed, steps=cfg.steps, segments=main_run.segments,
                        lora_file=main_run.lora_file, lora_sha256=main_run.lora_sha256, lora_keys=main_run.lora_keys,
                        losses=main_run.losses, samples=samples, experts=expert_runs if several else [])
    write_json(out / "train.json", art)
    import diffusers

    return StepResult(device=str(device), models=[model],
                      counts={"steps": cfg.steps, "segments": sum(len(r.segments) for r in expert_runs),
                              "samples": len(samples), "lora_keys": main_run.lora_keys}
                      | ({"experts": len(expert_runs)} if several else {}),
                      versions={"torch": torch.__version__, "diffusers": diffusers.__version__})


def declare(family: Family) -> Step:
    """The train step of model family ``family`` (reelset.declare; collected into nix/steps.json
    once per family by tools/gen_docs.py). A chain of segment derivations (step5_train_segment.py) does the training."""
    return Step(name=family.train_step, device="cuda", level="dataset", script="step5_train.py",
                inputs={family.preprocess_step: None}, config={family.train_section: family.train_config, "device": DeviceConfig},
                # the model the latents were made with (step5 checks that they match)
                models={"base": base_model(family)}, opt_in=f"{family.name}_train", family=family.name, role="train",
                segments=Segments(section=f"{family.name}_train", script="step5_train_segment.py",
                                  # a family with several experts: one chain of segments per expert named in `experts`
                                  chains="experts" if len(family.experts) > 1 else None,
                                  chain_steps="expert_steps" if len(family.experts) > 1 else None))


if __name__ == "__main__":
    raise SystemExit(main(per_family(declare), run, Path(__file__)))
