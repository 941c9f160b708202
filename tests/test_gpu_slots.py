"""One GPU per cuda step (tools/reelset/gpu_slots.py): concurrent step processes on N simulated
GPU slots never share a slot, never leave one idle while another waits, see only their own GPU
(``CUDA_VISIBLE_DEVICES``, set before the tool runs), say that they wait, and free the slot when
they die; mkStep starts every cuda step (and no cpu step) through the launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PYTHON, REPO, nix
from reelset import gpu_slots
from test_nix import drv_paths, repo_copy  # noqa: F401, F811 (repo_copy is a fixture)

LAUNCHER = REPO / "tools/reelset/gpu_slots.py"

# a stand-in step tool: records when it ran, on which GPU, with which argv, then holds the GPU
TOOL = '''\
import json, os, sys, time
t0 = time.time()
cuda_modules = sorted(m for m in ("torch", "ctranslate2") if m in sys.modules)
time.sleep(float(sys.argv[2]))
rec = {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": t0, "end": time.time(),
       "argv": sys.argv[1:], "name": __name__, "cuda_modules": cuda_modules}
open(sys.argv[1], "w").write(json.dumps(rec))
'''


def launch(tool: Path, record: Path, hold_s: float, locks: Path | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", gpu_slots.LOCKS_ENV)}
    if locks is not None:
        env[gpu_slots.LOCKS_ENV] = str(locks)
    return subprocess.Popen([PYTHON, "-B", "-s", str(LAUNCHER), str(tool), str(record), str(hold_s)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def tool(tmp_path) -> Path:
    path = tmp_path / "tool.py"
    path.write_text(TOOL)
    return path


def test_concurrent_steps_get_one_slot_each_and_no_slot_idles_while_one_waits(tmp_path, tool):
    slots, jobs, hold = 2, 5, 1.5
    locks = tmp_path / "locks"
    locks.mkdir()
    for i in range(slots):
        (locks / str(i)).touch()
    procs = [launch(tool, tmp_path / f"job{j}.json", hold, locks) for j in range(jobs)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * jobs, errs
    recs = [json.loads((tmp_path / f"job{j}.json").read_text()) for j in range(jobs)]
    assert {r["gpu"] for r in recs} == {"0", "1"} and all(r["name"] == "__main__" for r in recs)
    assert all(r["argv"] == [str(tmp_path / f"job{j}.json"), str(hold)] for j, r in enumerate(recs))
    assert all(r["cuda_modules"] == [] for r in recs)  # the GPU was chosen before any CUDA library loaded
    # no two in one slot: the runs on each GPU do not overlap
    for gpu in ("0", "1"):
        runs = sorted((r["start"], r["end"]) for r in recs if r["gpu"] == gpu)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(runs, runs[1:], strict=False)), (gpu, runs)
    # none idle while one waits: after every release with a step still waiting, a step takes a GPU at once
    starts = sorted(r["start"] for r in recs)
    for r in recs:
        waiting = [s for s in starts if s > r["end"]]
        if waiting:
            assert waiting[0] - r["end"] < 0.75, (r, waiting)
    # three of the five waited, and each said so while it waited
    waited = [e for e in errs if "waiting for a GPU: all 2 slots of" in e]
    assert len(waited) == jobs - slots, errs
    assert all("got GPU" in e and "set maxJobs to the GPU count" in e for e in waited)
    assert sum(1 for e in errs if "GPU slot 0 of" in e) >= 2  # the lowest free slot is taken


def test_a_killed_step_frees_its_slot(tmp_path, tool):
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "0").touch()
    first = launch(tool, tmp_path / "first.json", 60, locks)
    time.sleep(1.0)
    second = launch(tool, tmp_path / "second.json", 0, locks)
    time.sleep(1.0)
    assert second.poll() is None  # waits for the one GPU
    first.send_signal(signal.SIGKILL)
    first.wait()
    _, err = second.communicate(timeout=30)
    assert second.returncode == 0 and "got GPU 0 after waiting" in err
    assert json.loads((tmp_path / "second.json").read_text())["gpu"] == "0"


def test_without_a_slot_directory_the_tool_runs_at_once_on_every_gpu(tmp_path, tool, monkeypatch):
    monkeypatch.setattr(gpu_slots, "DEFAULT_LOCKS", tmp_path / "absent")
    monkeypatch.delenv(gpu_slots.LOCKS_ENV, raising=False)
    assert gpu_slots.lock_dir() is None
    proc = launch(tool, tmp_path / "rec.json", 0, None)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "GPU slot" not in err, err
    if not gpu_slots.DEFAULT_LOCKS.exists():  # this machine is no builder with slot locks
        assert json.loads((tmp_path / "rec.json").read_text())["gpu"] is None


def test_slot_errors_name_the_directory_and_an_empty_one_is_filled_from_the_devices(tmp_path, tool):
    proc = launch(tool, tmp_path / "rec.json", 0, tmp_path / "missing")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and f"REELSET_GPU_LOCKS={tmp_path / 'missing'}: not a directory" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError, match=f"{empty}: no GPU slot"):
        gpu_slots.slot_files(empty, dev=tmp_path)
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia10", "nvidiactl", "nvidia-uvm"):
        (dev / name).touch()
    assert [p.name for p in gpu_slots.slot_files(empty, dev=dev)] == ["0", "1", "10"]
    assert (empty / "1").stat().st_mode & 0o777 == 0o666  # every build user can open it
    (empty / "11").touch()  # a slot of a GPU the box does not have is never handed out
    assert [p.name for p in gpu_slots.slot_files(empty, dev=dev)] == ["0", "1", "10"]


def test_mkstep_starts_cuda_steps_through_the_launcher():
    """The derivations of the demo's cuda ASR shard and cpu scenes shard: only the cuda one
    runs the launcher, from its own narrow source, before the tool."""
    args = {}
    for step in ("step1-scenes", "step2-transcript-base"):
        drv = nix("eval", "--impure", "--raw", f".#host.{step}.shards.demo01.data.drvPath")
        assert drv.returncode == 0, drv.stderr
        args[step] = next(iter(json.loads(nix("show-derivation", drv.stdout).stdout).values()))["args"]
    launcher, script = args["step2-transcript-base"][2:]
    assert launcher.endswith("-reelset-step2-transcript-base-src/reelset/gpu_slots.py")
    assert script == str(Path(launcher).parent.parent / "step2_transcript_base.py")
    assert Path(launcher).read_text() == LAUNCHER.read_text()
    assert len(args["step1-scenes"]) == 3 and args["step1-scenes"][2].endswith("/step1_scenes.py")

if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))


def test_editing_the_launcher_rebuilds_the_cuda_steps_only(repo_copy):  # noqa: F811 (the fixture)
    """Cache boundary: the launcher is in every cuda step's sources and in no cpu step's."""
    before = drv_paths(repo_copy)
    launcher = repo_copy / "tools/reelset/gpu_slots.py"
    launcher.write_text(launcher.read_text() + "\n# an edit of the launcher only\n")
    after = drv_paths(repo_copy)
    assert after["step1-scenes"] == before["step1-scenes"]
    assert after["step2-transcript-base"] != before["step2-transcript-base"]
