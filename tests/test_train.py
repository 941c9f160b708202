"""Latents and LoRAs (issue 7): step4-*-preprocess, step5-*-train segments and the final step,
run as their CLIs on real packaged clips with the tiny random-config models; the segment chain
through real Nix builds (kill during segment 1, rebuild, raise `steps`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from safetensors import safe_open

from conftest import CPU_OK, REPO, TINY_DIFFUSION, Built, family_toml, nix, nix_build, nix_env, report_html, run_tool
from reelset import families, train
from reelset.families.ltx2.training import Ltx2TrainConfig
from reelset.schemas.latents import LatentIndex
from reelset.schemas.train import TrainArtifact, TrainConfig, TrainSegment
from test_package import reviewed_from_scenes

# every family's package step with its tiny model's package section (Family.tiny.package: small sizes,
# latents of a few dozen tokens, so a training step takes milliseconds on a CPU)
PACKAGES = {f.name: (f.package_step, f.package_script, f.name, f.tiny.package) for f in families.every()}
FAMILIES = families.names()


def model_ref(family: str, path: Path) -> dict:
    name, _ = TINY_DIFFUSION[family]
    return {"name": name, "repo": f"reelset:make_tiny_diffusion.py {TINY_DIFFUSION[family][1]}", "revision": "built", "path": str(path)}


@pytest.fixture(scope="session")
def packages(demo_scenes, tmp_path_factory) -> dict[str, Path]:
    """step3 packages (one per family) of the demo video's clips, every clip accepted."""
    root = tmp_path_factory.mktemp("train-packages")
    reviewed = root / "reviewed"
    reviewed.mkdir()
    (reviewed / "reviewed.json").write_text(json.dumps(reviewed_from_scenes([demo_scenes])))
    out = {}
    for family, (step, script, section, cfg) in PACKAGES.items():
        spec = {"step": step, "dataset": "t", "device": "cpu", "config": {section: cfg}, "inputs": {"step2-reviewed": str(reviewed)}}
        proc = run_tool(script, spec, root / family, root)
        assert proc.returncode == 0, proc.stderr
        out[family] = root / family
    return out


def preprocess_spec(family: str, package: Path, model: Path, **cfg) -> dict:
    step3 = PACKAGES[family][0]
    return {"step": f"step4-{family}-preprocess", "dataset": "t", "device": "cuda", "inputs": {step3: str(package)},
            "config": {f"{family}_preprocess": cfg, "device": CPU_OK}, "models": {"base": model_ref(family, model)}}


@pytest.fixture(scope="session")
def latents(packages, tiny_diffusion, tmp_path_factory) -> dict[str, Path]:
    """step4_preprocess.py outputs by family (default config), made on first use."""
    root = tmp_path_factory.mktemp("latents")

    def make(family: str) -> Path:
        proc = run_tool("step4_preprocess.py", preprocess_spec(family, packages[family], tiny_diffusion[family]), root / family, root)
        assert proc.returncode == 0, proc.stderr
        return root / family

    return Built(make)


def manifest(package: Path) -> dict:
    return orjson.loads((package / "manifest.json").read_bytes())


def vae_config(model: Path) -> dict:
    return json.loads((model / "vae" / "config.json").read_text())


@pytest.mark.parametrize("family", FAMILIES)
def test_preprocess_writes_one_latent_and_one_embedding_file_per_clip(family, packages, latents, tiny_diffusion):
    idx = LatentIndex.model_validate(orjson.loads((latents[family] / "latents.json").read_bytes()))
    kept = [c for c in manifest(packages[family])["clips"] if c["fate"] == "kept"]
    assert len(kept) >= 2 and [(c.item_id, c.clip_id) for c in idx.clips] == [(c["item_id"], c["clip_id"]) for c in kept]
    vae = vae_config(tiny_diffusion[family])
    fam = families.get(family).model()
    for c, k in zip(idx.clips, kept, strict=True):
        # named after the clip's path in the package, as ltx-trainer's process_dataset.py names its outputs
        assert c.files["latents"] == f"latents/videos/{c.item_id}{fam.FILE_SUFFIX}" and k["file"] == f"dataset/videos/{c.item_id}.mp4"
        assert {"latents", "conditions"} <= set(c.files) and all((latents[family] / f).is_file() for f in c.files.values())
        lat = fam.load_record(latents[family] / c.files["latents"])["latents"]
        if family == "ltx2":
            # LTX-2 video VAE: 32x spatial, 8x temporal compression; F = 8n+1 → (F-1)/8+1 latent frames
            expected = (vae["latent_channels"], (c.frames - 1) // 8 + 1, c.height // 32, c.width // 32)
        else:
            # Wan VAE: 4x temporal compression, F = 4n+1 → (F-1)/4+1 latent frames; spatial 8x (Wan 2.1,
            # z_dim 16) or 16x (Wan 2.2 TI2V-5B, z_dim 48, 2x2 pixel patches folded first)
            sp = vae.get("scale_factor_spatial", 8)
            expected = (vae["z_dim"], (c.frames - 1) // 4 + 1, c.height // sp, c.width // sp)
        assert tuple(lat.shape) == expected and list(expected) == c.shapes["latents/latents"]
        cond = fam.load_record(latents[family] / c.files["conditions"])
        emb = cond["video_prompt_embeds" if family == "ltx2" else "prompt_embeds"]
        assert emb.ndim == 2 and emb.shape[0] == idx.config["max_text_tokens"] and emb.float().isfinite().all()
        if family == "ltx2":
            assert "audio_latents" in c.files  # the demo clips have speech


def test_preprocess_is_repeatable_and_audio_can_be_switched_off(packages, latents, tiny_diffusion, tmp_path):
    proc = run_tool("step4_preprocess.py", preprocess_spec("ltx2", packages["ltx2"], tiny_diffusion["ltx2"], audio=False),
                    tmp_path / "noaudio", tmp_path)
    assert proc.returncode == 0, proc.stderr
    idx = LatentIndex.model_validate(orjson.loads((tmp_path / "noaudio" / "latents.json").read_bytes()))
    assert all("audio_latents" not in c.files for c in idx.clips) and not (tmp_path / "noaudio" / "audio_latents").exists()
    for c in idx.clips:  # same VAE, same clip: the same latents (posterior mode, no sampling)
        for kind in ("latents", "conditions"):
            assert (tmp_path / "noaudio" / c.files[kind]).read_bytes() == (latents["ltx2"] / c.files[kind]).read_bytes()


def chain_of(family: str) -> dict:
    """``config.segment.chain`` of a family with several experts (its first: Wan 2.2 A14B's high
    noise expert), nothing for a one-expert family."""
    experts = families.get(family).experts
    return {"chain": experts[0].name} if len(experts) > 1 else {}


def segment_spec(family: str, latents_dir: Path, model: Path, index: int, start: int, end: int,
                 previous: Path | None = None, **cfg) -> dict:
    train_cfg = {"rank": 4, "alpha": 8, "learning_rate": 1e-3, "seed": 7, **cfg}
    inputs = {f"step4-{family}-preprocess": str(latents_dir)}
    if previous is not None:
        inputs["previous"] = str(previous)
    return {"step": f"step5-{family}-train", "dataset": "t", "device": "cuda", "inputs": inputs,
            "config": {f"{family}_train": train_cfg, "segment": {"index": index, "start": start, "end": end, **chain_of(family)},
                       "device": CPU_OK},
            "models": {"base": model_ref(family, model)}}


def run_segments(family, latents, tiny_diffusion, root: Path, bounds: list[tuple[int, int]], **cfg) -> list[Path]:
    outs, prev = [], None
    root.mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(bounds):
        out = root / f"seg{i}"
        proc = run_tool("step5_train_segment.py", segment_spec(family, latents[family], tiny_diffusion[family], i, a, b, prev, **cfg),
                        out, root)
        assert proc.returncode == 0, proc.stderr
        assert "it/s ETA" in proc.stderr  # progress lines
        outs.append(out)
        prev = out
    return outs


def segment_of(out: Path) -> TrainSegment:
    return TrainSegment.model_validate(orjson.loads((out / "segment.json").read_bytes()))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_chain_of_segments_equals_one_uninterrupted_run(family, latents, tiny_diffusion, tmp_path):
    chained = run_segments(family, latents, tiny_diffusion, tmp_path / "chain", [(0, 3), (3, 6)])
    whole = run_segments(family, latents, tiny_diffusion, tmp_path / "whole", [(0, 6)])
    a, b = segment_of(chained[-1]), segment_of(whole[-1])
    assert [p.step for p in a.losses] == list(range(6)) and a.previous == str(chained[0])
    assert all(abs(p.loss) < float("inf") and p.loss == p.loss for p in a.losses)
    # per-step seeds + the optimizer state carried along: resuming changes nothing
    assert [(p.loss, p.clips) for p in a.losses] == [(p.loss, p.clips) for p in b.losses]
    assert a.lora_sha256 == b.lora_sha256 != segment_of(chained[0]).lora_sha256
    assert (chained[-1] / a.optimizer_file).is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_final_step_links_the_lora_plots_the_loss_and_renders_samples(family, latents, tiny_diffusion, tmp_path):
    segs = run_segments(family, latents, tiny_diffusion, tmp_path, [(0, 2), (2, 4)])
    spec = segment_spec(family, latents[family], tiny_diffusion[family], 0, 0, 1)
    experts = {"experts": list(chain_of(family).values())} if chain_of(family) else {}
    spec["config"] = {f"{family}_train": {"steps": 4, "rank": 4, "alpha": 8, "learning_rate": 1e-3, "seed": 7, **experts,
                                          "validation": {"prompts": ["Archer in the office", "Lana at the door"], "steps": 1}},
                      "device": CPU_OK}
    chain = "".join(f"{c}-" for c in chain_of(family).values())  # "high-" for Wan 2.2 A14B's first expert
    spec["inputs"].update({f"segment-{chain}{i:03d}": str(s) for i, s in enumerate(segs)})
    proc = run_tool("step5_train.py", spec, tmp_path / "final", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "final"
    t = TrainArtifact.model_validate(orjson.loads((out / "train.json").read_bytes()))
    assert t.steps == 4 and [p.step for p in t.losses] == [0, 1, 2, 3] and t.segments == [str(s) for s in segs]
    assert (out / t.lora_file).resolve() == (segs[-1] / "lora" / "pytorch_lora_weights.safetensors").resolve()
    with safe_open(str(out / t.lora_file), "pt") as fh:
        keys, metadata = list(fh.keys()), fh.metadata()
    assert len(keys) == t.lora_keys and all(k.startswith("transformer.") and ".lora_" in k for k in keys)
    # rank and alpha travel with the file (alpha != rank here: load_lora_weights needs them for the scale)
    adapter = json.loads(metadata["lora_adapter_metadata"])
    assert (adapter["transformer.r"], adapter["transformer.lora_alpha"]) == (4, 8), metadata
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(t.samples) == 2
    for s in t.samples:
        probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json",
                                           str(out / s.file)], capture_output=True, text=True, check=True).stdout)
        video = next(st for st in probe["streams"] if st["codec_type"] == "video")
        assert int(video["nb_read_frames"]) == s.frames >= 1 and (out / s.poster).is_file()
    html = report_html(out, "step5_train.py")
    assert 'src="loss.png"' in html and all(f'src="{s.file}"' in html for s in t.samples)
    assert all((out / chain.rstrip("-") / "segments" / f"{i:03d}" / "segment.json").is_file() for i in range(2))


@pytest.mark.parametrize("bad,message", [
    ({"rank": 0}, "rank = 0: a LoRA rank must be >= 1"),
    ({"target_modules": ["to_q", "not_a_module"]}, "target_modules ['not_a_module'] match no module of the transformer"),
    ({"buckets": ["960x544x97"]}, "buckets ['960x544x97'] are not buckets of the package"),
])
def test_bad_config_fails_before_any_model_is_loaded(bad, message, latents, tiny_diffusion, tmp_path):
    proc = run_tool("step5_train_segment.py", segment_spec("ltx2", latents["ltx2"], tiny_diffusion["ltx2"], 0, 0, 2, **bad),
                    tmp_path / "out", tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "[ltx2_train]" in proc.stderr, proc.stderr
    assert "loading" not in proc.stderr and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- Nix: the segment chain
TRAIN_TOML = """
[ltx2]
buckets = ["96x64x17", "64x96x9"]

[ltx2_preprocess]
model = "tiny-ltx2"

[ltx2_train]
steps = {steps}
segment_steps = 2
rank = 4
alpha = 4
learning_rate = 1e-3
seed = {seed}
"""


def train_dataset(folder: Path, steps: int, seed: int) -> Path:
    """A copy of the demo dataset (same name and sections, so steps up to step2-reviewed are the
    demo's derivations) with small LTX-2 buckets, the tiny LTX-2 model and a short run. `seed`
    (the training seed) makes the segment derivations new to a store that kept an earlier run's."""
    folder.mkdir(exist_ok=True)
    for f in (REPO / "pipelines" / "demo").iterdir():
        if f.is_file() and f.name != "dataset.toml":
            (folder / f.name).write_bytes(f.read_bytes())
    base = (REPO / "pipelines" / "demo" / "dataset.toml").read_text()
    (folder / "dataset.toml").write_text(base + TRAIN_TOML.format(steps=steps, seed=seed))
    return folder


def expr(ds: Path, attr: str) -> str:
    return (f'let r = builtins.getFlake "git+file://{REPO}"; '
            f'p = r.lib.mkPipeline {{ system = builtins.currentSystem; datasetDir = {ds}; }}; in p.{attr}')


def segment_paths(ds: Path) -> list[tuple[str, str]]:
    proc = nix("eval", "--impure", "--json", "--expr", expr(ds, "step5-ltx2-train.segments"),
               "--apply", "map (d: { drv = d.drvPath; out = d.outPath; })")
    assert proc.returncode == 0, proc.stderr
    return [(s["drv"], s["out"]) for s in json.loads(proc.stdout)]


def to_build(ds: Path, attr: str) -> set[str]:
    """Derivations `nix build --dry-run` would build (store paths of .drv files)."""
    proc = nix("build", "--impure", "--no-link", "--dry-run", "--expr", expr(ds, attr))
    assert proc.returncode == 0, proc.stderr
    return {ln.strip() for ln in proc.stderr.splitlines() if ln.strip().startswith("/nix/store/") and ln.strip().endswith(".drv")}


def valid(path: str) -> bool:
    return nix("path-info", path).returncode == 0


@pytest.mark.nix
def test_killed_run_resumes_from_the_last_segment_and_more_steps_reuse_all(tmp_path):
    # a seed of this run: CI's store may hold the segments of an earlier run of this test
    seed = int.from_bytes(os.urandom(4), "little") % 2**31
    ds = train_dataset(tmp_path / "ds", steps=6, seed=seed)
    nix_build("--expr", expr(ds, "step4-ltx2-preprocess"))  # everything upstream of training
    segs = segment_paths(ds)
    assert len(segs) == 3 and not any(valid(out) for _, out in segs)
    env = nix_env(True)
    build = subprocess.Popen(["nix", "build", "--impure", "--no-link", "-L", "--expr", expr(ds, "step5-ltx2-train")],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    deadline = time.monotonic() + 600
    while not valid(segs[0][1]):  # segment 0 done: segment 1 is starting (python + torch import)
        assert build.poll() is None and time.monotonic() < deadline, "nix build ended before segment 0 was registered"
        time.sleep(0.2)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    assert valid(segs[0][1]) and not valid(segs[1][1]), "the kill did not land during segment 1"
    # the rebuild needs only the later segments, the final step and its report: segment 0 is reused
    pending = to_build(ds, "step5-ltx2-train")
    assert segs[0][0] not in pending and {segs[1][0], segs[2][0]} <= pending and len(pending) == 4, pending
    out, _ = nix_build("--expr", expr(ds, "step5-ltx2-train"))
    t = TrainArtifact.model_validate(orjson.loads((out / "train.json").read_bytes()))
    assert t.segments == [o for _, o in segs] and [p.step for p in t.losses] == list(range(6))
    assert (out / "lora.safetensors").resolve().is_file()
    # raising `steps` keeps every finished segment: only segment 3, the final step and its report are new
    train_dataset(ds, steps=8, seed=seed)
    more = segment_paths(ds)
    assert more[:3] == segs and len(more) == 4
    pending = to_build(ds, "step5-ltx2-train")
    assert more[3][0] in pending and len(pending) == 3 and not pending & {d for d, _ in segs}, pending


def family_dataset(folder: Path, fam: families.Family) -> Path:
    """A copy of the demo dataset (same name: steps up to step2-reviewed are the demo's derivations)
    with ``fam``'s package section of its tiny model, its tiny model and a 2-step run in 2 segments."""
    folder.mkdir(exist_ok=True)
    for f in (REPO / "pipelines" / "demo").iterdir():
        if f.is_file() and f.name != "dataset.toml":
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / "dataset.toml").write_text((REPO / "pipelines" / "demo" / "dataset.toml").read_text() + family_toml(fam))
    return folder


@pytest.mark.nix
@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_packages_preprocesses_and_trains_through_nix(name, tmp_path):
    """Each family (reelset/families) through Nix from its declaration alone: package step, latents
    with its tiny model (built by its recipe), a 2-segment LoRA run, and `all` holding all three."""
    fam = families.get(name)
    ds = family_dataset(tmp_path / "ds", fam)
    out, _ = nix_build("--expr", expr(ds, fam.train_step))
    t = TrainArtifact.model_validate(orjson.loads((out / "train.json").read_bytes()))
    assert t.family == name and t.steps == 2 and len(t.segments) == 2 and (out / t.lora_file).resolve().is_file()
    # a family with several experts (Wan 2.2 A14B) trains each in its own 2 segments
    assert [(r.name, len(r.segments)) for r in t.experts] == ([(e.name, 2) for e in fam.experts] if len(fam.experts) > 1 else [])
    pre = LatentIndex.model_validate(orjson.loads((Path(t.latents) / "latents.json").read_bytes()))
    assert pre.family == name and pre.model.name == fam.tiny.name and pre.clips
    proc = nix("eval", "--impure", "--json", "--expr", expr(ds, "all.drvAttrs.reelsetSpec"))
    assert proc.returncode == 0, proc.stderr
    members = json.loads(json.loads(proc.stdout))["config"]["aggregate"]["order"]
    assert set(fam.steps()) <= set(members), members


@pytest.mark.nix
def test_demo_lora_trains_both_families_through_nix():
    """pipelines/demo-lora: the demo video from scenes to an LTX-2 and a Wan 2.1 LoRA (tiny models)."""
    out, _ = nix_build(".#host.datasets.demo-lora.all")
    for family in ("ltx2", "wan21"):
        t = TrainArtifact.model_validate(orjson.loads((out / f"step5-{family}-train" / "train.json").read_bytes()))
        losses = [p.loss for p in t.losses]
        assert len(losses) == t.steps == 60 and len(t.segments) == 3
        # the run learns: the mean loss of the last 10 steps is below that of the first 10
        assert sum(losses[-10:]) < sum(losses[:10]), losses
        assert len(t.samples) == 1 and (out / f"step5-{family}-train" / t.samples[0].file).is_file()
        idx = LatentIndex.model_validate(orjson.loads((out / f"step4-{family}-preprocess" / "latents.json").read_bytes()))
        # demo-lora keeps two windows of each of its 4 clips ([ltx2] / [wan21] max_windows = 2)
        assert idx.model.name == TINY_DIFFUSION[family][0] and len(idx.clips) == 8 and len({c.clip_id for c in idx.clips}) == 4


def test_presets_fill_only_what_dataset_toml_leaves_out():
    cfg = Ltx2TrainConfig.model_validate({"steps": 10, "preset": "48gb", "rank": 16})
    assert (cfg.rank, cfg.alpha, cfg.weights_dtype, cfg.gradient_checkpointing) == (16, 32, "float8", True)
    assert Ltx2TrainConfig.model_validate({"steps": 10, "preset": "80gb"}).rank == 64
    with pytest.raises(ValueError, match="steps"):
        Ltx2TrainConfig.model_validate({"rank": 8})  # steps is required: Nix needs it to plan the segments


def test_nix_reads_the_default_segment_length_from_the_schema():
    """Declared once (issue 40): nix/pipeline.nix takes `segment_steps`'s default from the generated
    nix/config-keys.json, which lists the training sections' defaults from their models."""
    import json

    keys = json.loads((REPO / "nix" / "config-keys.json").read_text())
    for section in (k for k in keys if k.endswith("_train")):
        assert keys[section]["keys"]["segment_steps"]["default"] == TrainConfig.model_fields["segment_steps"].default
    text = (REPO / "nix" / "pipeline.nix").read_text()
    assert "keys.segment_steps.default" in text and f"= {TrainConfig.model_fields['segment_steps'].default};" not in text


def test_heartbeat_and_progress_lines(monkeypatch, capsys):
    monkeypatch.setattr(train, "HEARTBEAT_S", 0.05)
    with train.Heartbeat("loading the model"):
        time.sleep(0.4)
    err = capsys.readouterr().err
    assert err.count("loading the model… (") >= 2  # a builder's max-silent-time never fires
    progress = train.Progress("seg 0", 0, 3)
    for step, loss in enumerate([0.5, 0.4, 0.3]):
        progress.update(step, loss)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "it/s ETA" in ln]
    assert lines[0].startswith("[reelset] seg 0: step 1/3") and "loss 0.50000" in lines[0] and "step 3/3" in lines[-1]


def test_canonical_safetensors_header_makes_equal_loras_equal_bytes(tmp_path):
    """Issue 19: the safetensors header order varies by process; after canonical_safetensors two
    files with the same tensors and metadata (given in different orders) are the same bytes and
    load back unchanged."""
    import torch
    from safetensors.torch import load_file, save_file

    from reelset.train import canonical_safetensors, lora_digest

    tensors = {"b.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a.weight": torch.ones(4, dtype=torch.bfloat16)}
    meta_a = {"rank": "4", "alpha": "8", "targets": '["to_q", "to_k"]'}
    save_file(tensors, tmp_path / "a.safetensors", metadata=meta_a)
    save_file(dict(reversed(tensors.items())), tmp_path / "b.safetensors", metadata=dict(reversed(meta_a.items())))
    digest = lora_digest(tmp_path / "a.safetensors")
    for name in ("a", "b"):
        canonical_safetensors(tmp_path / f"{name}.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert lora_digest(tmp_path / "b.safetensors") == digest
    back = load_file(tmp_path / "b.safetensors")
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    assert int.from_bytes((tmp_path / "a.safetensors").read_bytes()[:8], "little") % 8 == 0


@pytest.mark.nix
def test_wan22_a14b_trains_both_experts_in_their_own_chains_and_samples_with_both(tmp_path):
    """Wan 2.2 A14B through Nix (issue 41): package, latents, each expert's LoRA in 2 segments, a
    sample rendered with both LoRAs, the report with both loss curves; then `experts` switched to
    one expert, then to the other: only the final step (and its report) is new, every segment is
    the one already built (a segment spec holds its expert, not the list); then one expert's own
    steps raised (`expert_steps`): only its new segment is built."""
    fam = families.get("wan22_a14b")
    ds = family_dataset(tmp_path / "ds", fam)
    toml = (ds / "dataset.toml").read_text()
    validation = '\n[wan22_a14b_train.validation]\nprompts = ["Archer in the office"]\nsteps = 4\nframes = 9\n'
    (ds / "dataset.toml").write_text(toml + validation)
    out, _ = nix_build("--expr", expr(ds, fam.train_step))
    t = TrainArtifact.model_validate(orjson.loads((out / "train.json").read_bytes()))
    assert [(r.name, r.component, len(r.segments)) for r in t.experts] == [("high", "transformer", 2),
                                                                           ("low", "transformer_2", 2)]
    for r in t.experts:
        segs = [TrainSegment.model_validate(orjson.loads((Path(p) / "segment.json").read_bytes())) for p in r.segments]
        assert [s.segment.chain for s in segs] == [r.name] * 2 and [p.step for p in r.losses] == [0, 1]
        # each expert trained only on its own timesteps
        assert all(r.low <= p.sigma < r.high for p in r.losses), r.losses
        assert (out / r.lora_file).resolve() == (Path(r.segments[-1]) / "lora" / "pytorch_lora_weights.safetensors")
    assert t.experts[0].lora_sha256 != t.experts[1].lora_sha256
    assert len(t.samples) == 1 and (out / t.samples[0].file).is_file() and t.samples[0].frames == 9
    html = (out / "index.html").read_text()  # the step's report derivation
    assert "Expert high (transformer" in html and "Expert low (transformer_2" in html and 'src="loss.png"' in html
    named = json.loads(nix("eval", "--impure", "--json", "--expr", expr(ds, f"{fam.train_step}.segmentsNamed"),
                           "--apply", "builtins.mapAttrs (_: d: d.drvPath)").stdout)
    assert sorted(named) == ["high-seg000", "high-seg001", "low-seg000", "low-seg001"]
    for only in ("high", "low"):
        (ds / "dataset.toml").write_text(toml.replace("[wan22_a14b_train]\n", f'[wan22_a14b_train]\nexperts = ["{only}"]\n')
                                         + validation)
        now = json.loads(nix("eval", "--impure", "--json", "--expr", expr(ds, f"{fam.train_step}.segmentsNamed"),
                             "--apply", "builtins.mapAttrs (_: d: d.drvPath)").stdout)
        assert now == {k: v for k, v in named.items() if k.startswith(only)}, now
        pending = to_build(ds, fam.train_step)
        assert len(pending) == 2 and not pending & set(named.values()), pending  # the final step and its report
    # one expert's own steps: its one new segment, the final step and its report; the rest is reused
    (ds / "dataset.toml").write_text(toml.replace("[wan22_a14b_train]\n", "[wan22_a14b_train]\nexpert_steps = { low = 3 }\n")
                                     + validation)
    now = json.loads(nix("eval", "--impure", "--json", "--expr", expr(ds, f"{fam.train_step}.segmentsNamed"),
                         "--apply", "builtins.mapAttrs (_: d: d.drvPath)").stdout)
    assert {k: v for k, v in now.items() if k != "low-seg002"} == named and "low-seg002" in now, now
    pending = to_build(ds, fam.train_step)
    assert len(pending) == 3 and now["low-seg002"] in pending, pending
    out, _ = nix_build("--expr", expr(ds, fam.train_step))
    t = TrainArtifact.model_validate(orjson.loads((out / "train.json").read_bytes()))
    assert [(r.name, r.steps, len(r.segments)) for r in t.experts] == [("high", 2, 2), ("low", 3, 3)]
