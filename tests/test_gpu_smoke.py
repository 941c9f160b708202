"""bench/gpu_smoke.py, the GPU smoke run of the cuda steps (issue 25), on this CPU: every stage runs
with ``--allow-cpu`` in a Python that holds only what a lent GPU box has plus the carried wheels,
and writes schema-valid output and its figures; without CUDA and without ``--allow-cpu`` it stops
at the first stage, naming the stage and the device found; the wheel list fits a device call."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PYTHON, REPO

sys.path.insert(0, str(REPO / "bench"))
import gpu_smoke  # noqa: E402

SMOKE = REPO / "bench" / "gpu_smoke.py"
SCHEMAS = {"asr": "TranscriptArtifact", "caption": "CaptionsArtifact", "omni": "ModelSegmentAnswer", "latents-ltx2": "LatentIndex",
           "latents-wan21": "LatentIndex", "train-ltx2": "TrainSegment", "train-wan21": "TrainSegment"}
DEVICE_CALL_MIB = 64   # what a device call carries, working tree included (/work/.library/device/README.md)
TREE_ROOM_MIB = 4      # left for the working tree beside the carried wheels


def box_site(folder: Path) -> Path:
    """``folder`` filled with links to what a lent GPU box's Python holds — torch, transformers,
    peft, accelerate, the wheel list's ``box`` packages and all they require — plus the carried
    wheels without what they require (they are installed --no-deps), each taken from this
    interpreter's site-packages. ``python -S`` with ``PYTHONPATH=folder`` then sees nothing else."""
    import importlib.metadata

    wanted = gpu_smoke.box_distributions(gpu_smoke.read_wheels())
    folder.mkdir(parents=True)
    for dist in importlib.metadata.distributions():
        if gpu_smoke.canonical(dist.metadata["Name"]) not in wanted:
            continue
        site = Path(dist.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")} - {"__pycache__"}:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)
    return folder


def test_the_wheel_list_fits_a_device_call_and_pins_the_lock():
    wheels = gpu_smoke.read_wheels()
    carry = [w for w in wheels if w.where == "carry"]
    assert sum(w.mib for w in carry) <= DEVICE_CALL_MIB - TREE_ROOM_MIB
    lock = {gpu_smoke.canonical(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "requirements.lock").read_text(), re.M)}
    for w in wheels:
        if w.name != "torchvision":  # the build of the box's torch 2.11, not the lock's
            assert lock.get(gpu_smoke.canonical(w.name)) == w.version, w
        assert all(s.rstrip("?") in (*gpu_smoke.STAGES, "all") for s in w.stages), w
    assert {s for w in carry for s in w.stages} >= {"asr", "caption", "latents-ltx2", "train-wan21"}
    assert gpu_smoke.plan("train-wan21,asr") == ["asr", "latents-wan21", "train-wan21"]
    with pytest.raises(ValueError, match="unknown stage"):
        gpu_smoke.plan("asr,trian-ltx2")


def test_every_stage_runs_on_the_cpu_in_a_box_like_python(tmp_path):
    """The whole smoke run in ``python -S`` over :func:`box_site` (no PyAV, srt, matplotlib, ffmpeg …):
    every stage ran on the CPU, its output validated against its schema, and it reported its figures."""
    site = box_site(tmp_path / "site")
    out = tmp_path / "smoke.json"
    env = {**os.environ, "PYTHONPATH": str(site), "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([PYTHON, "-S", str(SMOKE), "--allow-cpu", "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert list(stages) == list(gpu_smoke.STAGES) and report["ok"]
    for name, s in stages.items():
        assert s["status"] == "ok" and s["device"] == "cpu" and s["error"] is None, s
        assert s["schema"] == SCHEMAS[name] and s["schema_valid"] and Path(s["artifact"]).name.endswith(".json"), s
        assert s["wall_s"] > 0 and s["prepare_s"] >= 0 and s["rss_peak_mib"] > 0 and s["phases"], s
        assert s["torch_peak_mib"] is None and s["device_peak_mib"] is None  # GPU memory: none on the CPU
        assert re.search(rf"^{name} +{s['step']} +ok +cpu ", proc.stdout, re.M), proc.stdout
    assert stages["asr"]["counts"]["compute_type"] == "int8" and stages["asr"]["phases"]["asr"] > 0
    assert stages["caption"]["counts"]["clips"] == 2
    assert stages["omni"]["counts"]["segments"] == gpu_smoke.OMNI_SEGMENTS and stages["omni"]["counts"]["audio_tokens"] > 0
    assert stages["latents-ltx2"]["counts"]["audio_latents"] == 2 and stages["latents-wan21"]["counts"]["clips"] == 2
    for family in ("ltx2", "wan21"):
        assert stages[f"train-{family}"]["counts"]["steps"] == gpu_smoke.TRAIN_STEPS
    assert all(w["importable"] for w in report["wheels"]) and "missing wheel" not in proc.stderr
    imported = set(report["imported_distributions"])
    assert {"torch", "ctranslate2", "faster-whisper", "diffusers", "xgrammar", "pydantic", "peft"} <= imported
    assert report["imported_outside_box_and_wheels"] == [] and not imported & {"av", "srt", "matplotlib"}


def test_without_cuda_and_without_allow_cpu_the_first_stage_fails_naming_itself_and_the_device(tmp_path):
    out = tmp_path / "smoke.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([PYTHON, str(SMOKE), "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    report = json.loads(out.read_text())
    first, *rest = report["stages"]
    assert first["stage"] == "asr" and first["status"] == "no-cuda" and first["device"] == "cpu"
    assert "stage asr (step2-transcript-base) needs a CUDA device, but the device found is the CPU" in first["error"]
    assert "get_cuda_device_count() is 0" in first["error"] and "--allow-cpu" in first["error"]
    assert [s["status"] for s in rest] == ["not run"] * (len(gpu_smoke.STAGES) - 1)
    assert all("stage asr found no CUDA device" in s["error"] for s in rest)
    assert "FAIL asr: stage asr (step2-transcript-base) needs a CUDA device" in proc.stderr
    assert not report["ok"] and first["wall_s"] is None  # nothing ran on the CPU


def test_the_smoke_says_which_stack_it_measured(tmp_path, monkeypatch):
    """``--env`` runs the smoke in the steps' store env (the lock's stack); otherwise the figures
    name the interpreter they came from. A wrong ``--env`` path is an error that says why."""
    smoke = gpu_smoke
    fake = tmp_path / "venv"
    fake.mkdir()
    monkeypatch.setattr(sys, "prefix", str(fake))
    assert smoke.stack().startswith(f"this interpreter {sys.executable} (not the steps' store env")
    store = Path("/nix/store/0000-reelset-python-env")
    monkeypatch.setattr(os.path, "realpath", lambda p, real=os.path.realpath: str(store) if p == str(fake) else real(p))
    monkeypatch.setattr(Path, "is_file", lambda self: self == store / "reelset-lock.sha256")
    assert smoke.stack() == f"store env {store}"
    monkeypatch.undo()
    proc = subprocess.run([PYTHON, str(REPO / "bench/gpu_smoke.py"), "--env", str(tmp_path / "nope"), "--stages", "asr"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and f"--env: {tmp_path / 'nope'}: no bin/python" in proc.stderr, proc.stderr
