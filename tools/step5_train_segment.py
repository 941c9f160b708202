"""One segment of step5-<family>-train (step5-ltx2-train, step5-wan21-train, …): optimizer steps [start, end) of a LoRA
run, resumed from the previous segment's LoRA and optimizer state.

A training run is a chain of these derivations (nix/pipeline.nix): segment k's spec holds
``config.segment`` (:class:`reelset.schemas.train.SegmentSpec`), the training section without
``steps`` and ``validation``, ``inputs.step4-<family>-preprocess`` and, for k > 0,
``inputs.previous`` (segment k-1's output). So a crash costs at most one segment, and raising
``steps`` reuses every finished segment (only the segments past the old end are built).

A family with several experts (``Family.experts``, Wan 2.2 A14B: high noise on ``transformer``,
low noise on ``transformer_2``) trains one chain per expert named in the section's ``experts``:
``config.segment.chain`` names the segment's expert, whose component alone is loaded and gets
the LoRA, and whose timestep range [low, high) bounds the sigmas (the family's ``sample_sigmas(..., expert=)``).

Before any weights are loaded the config is checked: schema rules (rank >= 1, alpha > 0, …),
``buckets`` against the package's buckets (latents.json), ``target_modules`` against the
transformer's module names (built on the meta device from its config.json), and the previous
segment's end against this segment's start.

Training (per step s, all randomness from seed and s only, :func:`reelset.train.step_seed`):
a batch of ``batch_size`` clips of one latent shape; sigmas from the family's
``sample_sigmas``; flow-matching loss from the family's ``training_loss``; AdamW on the LoRA
parameters (float32) with the learning rate of :func:`reelset.train.lr_at`, gradient norm
clipped to ``max_grad_norm``. peft LoRA (``LoraConfig(r=rank, lora_alpha=alpha,
target_modules)``) added to the frozen diffusers transformer; accelerate handles device and
bf16 autocast on CUDA; ``gradient_checkpointing`` and ``weights_dtype = "float8"``
(diffusers layerwise casting, CUDA only) save memory. Progress lines (step, loss, it/s, ETA)
at least every 10 s.

Output: ``lora/pytorch_lora_weights.safetensors`` (diffusers ``save_lora_weights`` format:
``pipe.load_lora_weights(dir)`` loads it), ``optimizer.pt`` (AdamW state, ``torch.save``),
``segment.json`` (:class:`reelset.schemas.train.TrainSegment`: the loss of every step so far),
``meta.json``.

Run by hand: ``python tools/step5_train_segment.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import time
from pathlib import Path

from reelset import ReelsetError, families, train
from reelset.schemas.base import StepSpec
from reelset.schemas.latents import LatentIndex
from reelset.schemas.train import LossPoint, SegmentSpec, TrainSegment
from reelset.step import Context, StepResult, log, main, read_artifact, write_json


def check(spec: StepSpec) -> tuple:
    """Validate everything that needs no weights; returns (family, cfg, segment, index, clips,
    previous segment.json or None, targets). ReelsetError naming the setting otherwise."""
    fam = families.of_step(spec.step)
    section = fam.train_section
    where = f"[{section}] of {spec.dataset}/dataset.toml"
    try:
        cfg = fam.train_config.model_validate({"steps": 1, **spec.config.get(section, {})})
        seg = SegmentSpec.model_validate(spec.config.get("segment"))
    except ValueError as exc:
        raise ReelsetError(f"{where}: {exc}") from exc
    expert = train.expert_of(fam, seg.chain, where)
    pre_step = fam.preprocess_step
    if pre_step not in spec.inputs or "base" not in spec.models:
        raise ReelsetError(f"{spec.step}: spec needs inputs.{pre_step} and models.base")
    pre = Path(spec.inputs[pre_step])
    index = read_artifact(pre / "latents.json", LatentIndex)
    clips = train.select_clips(index, cfg, where)
    model = spec.models["base"]
    if index.model.path != model.path:
        raise ReelsetError(f"{pre / 'latents.json'}: latents were made with {index.model.name} ({index.model.path}) but "
                           f"{spec.step} trains {model.name} ({model.path}); use the same model in [{fam.preprocess_section}]")
    family = fam.model()
    targets = cfg.target_modules or list(family.DEFAULT_TARGET_MODULES)
    train.check_target_modules(targets, train.transformer_module_names(Path(model.path), expert.component), where)
    prev = None
    if seg.index > 0:
        if "previous" not in spec.inputs:
            raise ReelsetError(f"{spec.step}: segment {seg.index} has no inputs.previous (segment {seg.index - 1})")
        prev = read_artifact(Path(spec.inputs["previous"]) / "segment.json", TrainSegment)
        if prev.segment.end != seg.start:
            raise ReelsetError(f"{spec.inputs['previous']}: previous segment ends at step {prev.segment.end}, "
                               f"this one starts at {seg.start}")
    return family, expert, cfg, seg, index, pre, clips, prev, targets


def adapter_metadata(transformer) -> dict:
    """peft's LoraConfig of the adapter as a dict, with ``target_modules`` sorted (peft keeps a
    set, whose order changes with PYTHONHASHSEED: the LoRA file's bytes would too)."""
    meta = transformer.peft_config["default"].to_dict()
    if isinstance(meta.get("target_modules"), (list, set, tuple)):
        meta["target_modules"] = sorted(meta["target_modules"])
    return meta


def run(ctx: Context) -> StepResult:
    spec, out, timer, policy = ctx.spec, ctx.out, ctx.timer, ctx.policy
    family, expert, cfg, seg, index, pre, clips, prev, targets = check(spec)
    several = len(families.of_step(spec.step).experts) > 1
    import diffusers
    import torch
    from accelerate import Accelerator
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig, set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file

    label = f"{spec.step} {expert.name} segment {seg.index}" if several else f"{spec.step} segment {seg.index}"
    model = spec.models["base"]
    device, dtype = train.device_and_dtype(policy)
    accelerator = Accelerator(mixed_precision="bf16" if device.type == "cuda" else "no", cpu=device.type != "cuda")
    with timer.phase("load"), train.Heartbeat(f"{label}: loading {model.name} {expert.component} on {device}"):
        # a family with several experts loads only the trained one (a 14B expert each)
        pipe = family.load_for_training(Path(model.path), device=device, dtype=dtype, expert=expert)
    transformer = family.transformer(pipe, expert)
    transformer.requires_grad_(False)
    if cfg.weights_dtype == "float8" and device.type == "cuda":
        transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if cfg.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    torch.manual_seed(cfg.seed)  # LoRA A init (B starts at zero): a function of the seed
    transformer.add_adapter(LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                       target_modules=targets, init_lora_weights=True))
    cast_training_params(transformer, dtype=torch.float32)
    params = [p for _, p in transformer.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    losses: list[LossPoint] = list(prev.losses) if prev else []
    if prev is not None:
        prev_dir = Path(spec.inputs["previous"])
        state = {k.removeprefix("transformer."): v for k, v in load_file(str(prev_dir / prev.lora_file)).items()}
        result = set_peft_model_state_dict(transformer, state, adapter_name="default")
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
        if getattr(result, "unexpected_keys", None) or missing:
            raise ReelsetError(f"{prev_dir / prev.lora_file}: LoRA does not match this config "
                               f"(unexpected {list(result.unexpected_keys)[:3]}, missing {missing[:3]})")
        optimizer.load_state_dict(torch.load(prev_dir / prev.optimizer_file, map_location=device, weights_only=True))
        log(f"{label}: resumed from {prev_dir} (step {prev.segment.end})")
    transformer, optimizer = accelerator.prepare(transformer, optimizer)
    transformer.train()

    by_id = {c.item_id: c for c in clips}
    groups = train.shape_groups(clips)
    cache: dict[str, dict] = {}
    progress = train.Progress(label, seg.start, seg.end)
    t0 = time.perf_counter()
    # the heartbeat covers steps slower than the progress interval (a real model on a small GPU)
    with timer.phase("train"), train.Heartbeat(f"{label}: training steps [{seg.start},{seg.end})"):
        for step in range(seg.start, seg.end):
            ids = train.batch_for_step(groups, step, cfg.seed, cfg.batch_size)
            for i in ids:
                if i not in cache:
                    cache[i] = train.load_tensors(pre, by_id[i], family, pipe, device, dtype)
            batch = {k: torch.stack([cache[i][k] for i in ids]) for k in cache[ids[0]]}
            gen = torch.Generator(device="cpu").manual_seed(train.step_seed(cfg.seed, step))
            seq_len = int(batch["latents"][0].numel() // batch["latents"].shape[1])
            sigmas = family.sample_sigmas(len(ids), seq_len, gen, expert=expert)
            lr = train.lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with accelerator.autocast():
                loss = family.training_loss(transformer, batch, sigmas, gen)
            if not torch.isfinite(loss):
                raise ReelsetError(f"{label}: loss is {loss.item()} at step {step} (clips {ids}); lower learning_rate "
                                   f"(now {cfg.learning_rate}) or check the latents in {pre}")
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach().item())
            losses.append(LossPoint(step=step, loss=value, sigma=float(sigmas.float().mean()), lr=lr, clips=ids))
            progress.update(step, value)
    wall = time.perf_counter() - t0
    log(f"{label}: {seg.end - seg.start} steps in {wall:.2f} s ({(seg.end - seg.start) / max(wall, 1e-9):.2f} it/s)")

    with timer.phase("save"):
        unwrapped = accelerator.unwrap_model(transformer)
        lora_state = get_peft_model_state_dict(unwrapped)
        pipeline_cls = getattr(diffusers, family.PIPELINE_CLASS)
        # the adapter metadata (rank, lora_alpha, targets) goes into the file: without it a LoRA
        # with alpha != rank loads back with the wrong scale
        pipeline_cls.save_lora_weights(save_directory=str(out / train.LORA_DIR), transformer_lora_layers=lora_state,
                                       transformer_lora_adapter_metadata=adapter_metadata(unwrapped),
                                       safe_serialization=True)
        train.canonical_safetensors(out / train.LORA_DIR / train.LORA_FILE)  # bytes independent of the process
        lora_rel = f"{train.LORA_DIR}/{train.LORA_FILE}"
        torch.save(optimizer.state_dict(), out / train.OPTIMIZER_FILE)
    art = TrainSegment(family=index.family, dataset=spec.dataset, segment=seg,
                       config=cfg.model_dump(mode="json", exclude={"steps", "validation", "experts", "expert_steps"}), model=model,
                       previous=spec.inputs.get("previous"), device=str(device), lora_file=lora_rel,
                       lora_sha256=train.lora_digest(out / lora_rel), optimizer_file=train.OPTIMIZER_FILE,
                       trainable_parameters=sum(p.numel() for p in params), losses=losses)
    write_json(out / "segment.json", art)
    return StepResult(device=str(device), models=[model],
                      counts={"segment": seg.index, "start": seg.start, "end": seg.end, "clips": len(clips),
                              "trainable_parameters": art.trainable_parameters},
                      versions={"torch": torch.__version__, "diffusers": diffusers.__version__})


if __name__ == "__main__":
    raise SystemExit(main(None, run, Path(__file__)))
