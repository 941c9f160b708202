"""The device policy of cuda steps (reelset/device.py), on a machine without a GPU: the default
policy fails with the reason, `[device] allow_cpu = true` runs on the CPU and says so in
meta.json, and the two are different derivations (through real Nix builds)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from conftest import DEMO_VIDEO, REPO, nix, run_tool, transcript_spec
from reelset import ReelsetError, device
from reelset.schemas.base import StepMeta, StepSpec
from test_nix import pipeline_expr, write_dataset

NO_GPU = "needs a working CUDA device"


def spec(step_device: str = "cuda", **config) -> StepSpec:
    return StepSpec(step="step2-transcript-base", dataset="t", device=step_device, config=config)


def test_default_policy_refuses_the_cpu_with_the_reason():
    policy = device.DevicePolicy.from_spec(spec())
    assert policy.rule == device.GPU_REQUIRED
    for library in ("ctranslate2", "torch"):
        with pytest.raises(ReelsetError) as err:
            policy.pick(library)
        text = str(err.value)
        assert NO_GPU in text and f"{library} sees none" in text and "allow_cpu = true" in text
        assert "step2-transcript-base (dataset 't')" in text
        # the reason names what is missing on this machine (no driver here)
        assert "/dev/nvidiactl does not exist" in text and "libcuda.so.1 cannot be loaded" in text


def test_allow_cpu_picks_the_cpu_and_records_the_policy(capsys):
    policy = device.DevicePolicy.from_spec(spec(device={"allow_cpu": True}))
    assert policy.pick("ctranslate2") == "cpu" and policy.pick("torch") == "cpu" and policy.pick("torch") == "cpu"
    notices = [ln for ln in capsys.readouterr().err.splitlines() if "sees no CUDA device" in ln]
    assert len(notices) == 1, notices  # issue 38 (6): once per step, not once per call
    policy.note("ctranslate2_isa", "AVX2")
    meta = StepMeta(step="s", dataset="t", tool_sha256="", device="cpu")
    policy.record(meta)
    assert meta.device_policy == "cpu-allowed" and meta.gpu is None and meta.versions["ctranslate2_isa"] == "AVX2"


def test_cpu_steps_and_library_use_have_no_policy():
    policy = device.DevicePolicy.from_spec(spec("cpu"))
    assert policy.rule is None and policy.pick("torch") == "cpu"
    assert device.DevicePolicy().pick("ctranslate2") == "cpu"   # tests, benchmarks: GPU if any, else CPU


def test_two_policies_in_one_process_do_not_share_state(capsys):
    """Issue 40: the policy is an object the harness builds, not module state: a strict policy
    built after a lax one still refuses the CPU, and each logs its own notice and facts."""
    lax = device.DevicePolicy.from_spec(spec(device={"allow_cpu": True}))
    assert lax.pick("torch") == "cpu"
    lax.note("k", "v")
    strict = device.DevicePolicy.from_spec(spec())
    with pytest.raises(ReelsetError, match=NO_GPU):
        strict.pick("torch")
    assert strict.facts == {} and strict.picked == [] and lax.picked == ["cpu"]
    other = device.DevicePolicy.from_spec(spec(device={"allow_cpu": True}))
    assert other.pick("torch") == "cpu" and other.told
    assert len([ln for ln in capsys.readouterr().err.splitlines() if "sees no CUDA device" in ln]) == 2


def test_bad_device_section_is_a_clear_error():
    with pytest.raises(ReelsetError, match=r"dataset.toml \[device\] allow_gpu: Extra inputs are not permitted"):
        device.DevicePolicy.from_spec(spec(device={"allow_gpu": True}))


def test_min_driver_follows_nvidia_table():
    assert [device.min_driver(v) for v in ("13.0", "12.4", "11.8", "10.2", None)] == [580, 525, 450, None, None]
    info = device.driver_info()   # no driver here: both unknown, never an exception
    assert info == {"driver_version": None, "driver_cuda": None}


def test_tool_without_allow_cpu_fails_before_loading_the_model(tmp_path):
    s = transcript_spec(DEMO_VIDEO, "demo01")
    del s["config"]["device"]
    proc = run_tool("step2_transcript_base.py", s, tmp_path / "out", tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert NO_GPU in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.nix
def test_policy_is_part_of_the_derivation_and_meta_says_cpu(tmp_path):
    word = uuid.uuid4().hex  # unique ASR derivations for this run
    strict = write_dataset(tmp_path / "strict", [{"id": "v1", "path": "v1.mp4"}], hotword=word, allow_cpu=False)
    lax = write_dataset(tmp_path / "lax", [{"id": "v1", "path": "v1.mp4"}], hotword=word)
    for ds in (strict, lax):
        shutil.copy(REPO / "pipelines/demo/demo.mp4", ds / "v1.mp4")
    attr = "step2-transcript-base.shards.v1"
    drvs = [nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, f"{attr}.drvPath")).stdout for ds in (strict, lax)]
    assert all(d.endswith(".drv") for d in drvs) and drvs[0] != drvs[1]
    # the cpu step of the same video does not take [device]: one derivation for both
    cpu = {nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step1-scenes.shards.v1.drvPath")).stdout
           for ds in (strict, lax)}
    assert len(cpu) == 1

    failed = nix("build", "--impure", "--no-link", "-L", "--expr", pipeline_expr(strict, attr))
    assert failed.returncode != 0
    assert NO_GPU in failed.stderr and "allow_cpu = true" in failed.stderr, failed.stderr[-3000:]

    built = nix("build", "--impure", "--no-link", "--json", "--expr", pipeline_expr(lax, attr))
    assert built.returncode == 0, built.stderr[-3000:]
    out = Path(json.loads(built.stdout)[0]["outputs"]["out"])
    meta = StepMeta.model_validate_json((out / "meta.json").read_text())
    assert meta.device == "cpu" and meta.device_policy == "cpu-allowed" and meta.gpu is None


@pytest.mark.nix
def test_wrong_type_in_device_section_fails_at_evaluation(tmp_path):
    ds = write_dataset(tmp_path / "ds", [{"id": "v1", "path": "v1.mp4"}], hotword="x", allow_cpu=False)
    (ds / "dataset.toml").write_text((ds / "dataset.toml").read_text() + '\n[device]\nallow_cpu = "yes"\n')
    shutil.copy(REPO / "pipelines/demo/demo.mp4", ds / "v1.mp4")
    proc = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step2-transcript-base.shards.v1.drvPath"))
    assert proc.returncode != 0
    assert f"{ds}/dataset.toml: [device]: `allow_cpu` is a string, but must be bool" in proc.stderr, proc.stderr
