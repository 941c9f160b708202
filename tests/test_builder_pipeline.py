"""The pipeline with simulated ssh-ng GPU builders (tests/simbuilder.py): cuda shards go to the
builders, cpu steps stay local, outputs come back valid and equal local runs; the HF token
never reaches a .drv or the store.

The local machine never declares ``cuda`` here, and each test's source videos carry a fresh
nonce (container metadata), so every derivation really builds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from conftest import REPO, ffmpeg, run_tool, scenes_spec, transcript_spec
from reelset import cpu_kernels, nixinfo
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.transcript import TranscriptArtifact
from simbuilder import nix_env_for, requirements_missing
from test_nix import pipeline_expr, write_dataset

pytestmark = [pytest.mark.nix,
              pytest.mark.skipif(bool(requirements_missing()), reason=f"simulated builder: {requirements_missing()}")]
LOCAL_FEATURES = "benchmark big-parallel nixos-test"  # explicitly without cuda
BUILD_LINE = re.compile(r"building '(/nix/store/[^']+\.drv)'(?: on '([^']+)')?")


def dataset(tmp_path: Path, n_videos: int) -> Path:
    """A dataset of ``n_videos`` speech videos (espeak-ng + two shots), unique to this test run."""
    nonce = uuid.uuid4().hex
    ds = tmp_path / "ds"
    ds.mkdir()
    lines = ["Archer meets Lana in Moscow.", "Cyril has the keys to the car.", "Malory wants the report by noon."]
    for i in range(n_videos):
        wav = tmp_path / f"v{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), lines[i % len(lines)]], check=True)
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25,trim=end_frame=75",
               "-f", "lavfi", "-i", "smptebars=size=320x240:rate=25,trim=end_frame=75", "-i", str(wav),
               "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v];[2:a]apad,atrim=0:6[a]",
               "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
               "-metadata", f"comment={nonce}", str(ds / f"v{i}.mp4"))
    # uniqueness comes from the videos (metadata nonce); a fixed hotword keeps decoding stable
    return write_dataset(ds, [{"id": f"v{i}", "path": f"v{i}.mp4"} for i in range(n_videos)], hotword="Archer")


def build(expr: str, env: dict, builders: str, max_jobs: int = 1) -> tuple[Path, dict[str, str | None]]:
    """Build ``expr`` with ``--builders``: (output, {drv name: builder URI or None for local})."""
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", "--log-format", "raw", "--expr", expr,
                           "--builders", builders, "--option", "system-features", LOCAL_FEATURES,
                           "--option", "max-jobs", str(max_jobs)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    placement: dict[str, str | None] = {}
    for m in BUILD_LINE.finditer(proc.stderr):  # a remote build also echoes the builder's own local line
        name = m.group(1).split("-", 1)[1].removesuffix(".drv")
        placement[name] = placement.get(name) or m.group(2)
    return Path(json.loads(proc.stdout)[0]["outputs"]["out"]), placement


def client_env(builders, tmp_path: Path, **extra) -> dict:
    """Client env for ``builders``. These tests are about placement: they use the escape hatch
    REELSET_PYTHON (this venv, visible to the simulated builders, which share the file system)
    so that no test here ships the whole environment; tests/test_python_env.py does that."""
    env = nix_env_for(builders, tmp_path / "ssh_config")
    env["REELSET_PYTHON"] = str(Path(sys.prefix) / "bin" / "python")
    env.update(extra)
    return env


def test_cuda_steps_on_the_builder_cpu_steps_local(sb1, tmp_path):
    ds = dataset(tmp_path, 1)
    token = "hf_" + uuid.uuid4().hex  # a fake token in the client's env: must not leak anywhere
    env = client_env([sb1], tmp_path, HF_TOKEN=token)
    out, placement = build(pipeline_expr(ds, "all"), env, sb1.machines_line())
    assert placement, "nothing was built"
    # the shards of every cuda step of the table (ASR, speakers, …) go to the builder
    cuda = [s["name"] for s in nixinfo.step_table(REPO) if s["device"] == "cuda"]
    for name, where in placement.items():
        if any(name.startswith(f"reelset-t-{step}-") for step in cuda) and not name.endswith("-report"):
            assert where == sb1.uri, (name, where)
        else:  # step1 shards, reports and every aggregate are cpu derivations
            assert where is None, (name, where)
    assert placement.get("reelset-t-step2-transcript-base-v0") == sb1.uri
    assert placement.get("reelset-t-step2-speakers-v0") == sb1.uri
    assert "reelset-t-step1-scenes-v0" in placement and placement["reelset-t-step1-scenes-v0"] is None

    agg = AggregateArtifact.model_validate(orjson.loads((out / "aggregate.json").read_bytes()))
    assert {m.name for m in agg.members} >= {"step1-scenes", "step2-transcript-base"}
    shard_s = out / "step1-scenes/shards/v0"
    shard_t = out / "step2-transcript-base/shards/v0"
    scenes = ScenesArtifact.model_validate(orjson.loads((shard_s / "scenes.json").read_bytes()))
    remote = TranscriptArtifact.model_validate(orjson.loads((shard_t / "transcript.json").read_bytes()))
    assert len(scenes.scenes) == 2 and "moscow" in " ".join(s.text for s in remote.segments).lower()

    # the same tools run here, outside Nix, give the same bytes (cpu) / the same words (ASR)
    video = ds / "v0.mp4"
    local = tmp_path / "local"
    local.mkdir()
    assert run_tool("step1_scenes.py", scenes_spec(video, "v0"), local / "s", local).returncode == 0
    for rel in ["scenes.json", *(s.clip for s in scenes.scenes), *(s.thumbnail for s in scenes.scenes)]:
        assert (shard_s / rel).read_bytes() == (local / "s" / rel).read_bytes(), rel
    spec = transcript_spec(video, "v0", hotwords=remote.hotwords)
    spec["dataset"] = "t"
    # in a build's environment: PATH and the CPU kernel pins of the ASR steps' derivations
    # (reelset.cpu_kernels; this machine sets OPENBLAS_CORETYPE, which picks other BLAS kernels
    # for the mel features; marginal audio then decodes to other words)
    build_env = cpu_kernels.pinned_env({"PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin"})
    assert run_tool("step2_transcript_base.py", spec, local / "t", local, env=build_env).returncode == 0
    here = TranscriptArtifact.model_validate(orjson.loads((local / "t" / "transcript.json").read_bytes()))
    # a fixed sampling seed (AsrConfig.seed) makes decoding reproducible: same words, times, probabilities
    assert [s.words for s in here.segments] == [s.words for s in remote.segments]

    # the token: not in any .drv of the build, not in any output
    drv = subprocess.run(["nix", "eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "all.drvPath")],
                         env=env, capture_output=True, text=True, check=True).stdout
    shown = subprocess.run(["nix", "show-derivation", "-r", drv], env=env, capture_output=True, text=True, check=True).stdout
    assert token not in shown
    assert '"HF_TOKEN"' not in shown or "impureEnvVars" in shown  # only its name, as an impure env var
    closure = subprocess.run(["nix-store", "-qR", str(out)], env=env, capture_output=True, text=True, check=True).stdout.split()
    grep = subprocess.run(["grep", "-rlF", token, *closure], capture_output=True, text=True)
    assert grep.returncode == 1, grep.stdout  # 1 = no match anywhere in the closure


def test_cuda_shards_spread_over_two_builders(sb1, sb2, tmp_path):
    ds = dataset(tmp_path, 3)
    env = client_env([sb1, sb2], tmp_path)
    builders = f"{sb1.machines_line(max_jobs=1)} ; {sb2.machines_line(max_jobs=1)}"
    _, placement = build(pipeline_expr(ds, "step2-transcript-base"), env, builders, max_jobs=3)
    shards = {n: w for n, w in placement.items() if re.search(r"step2-transcript-base-v\d$", n)}
    assert len(shards) == 3, placement
    assert set(shards.values()) == {sb1.uri, sb2.uri}, shards
    assert placement["reelset-t-step2-transcript-base-report"] is None  # the aggregate (a cpu step) stays local


def test_unreachable_builder_is_named(tmp_path):
    ds = dataset(tmp_path, 1)
    env = dict(os.environ)
    env["NIX_CONFIG"] = "experimental-features = nix-command flakes\nsubstituters =\nbuild-users-group =\nsandbox = relaxed"
    env["NIX_SSHOPTS"] = "-o ConnectTimeout=3 -o BatchMode=yes -p 1"
    env["REELSET_PYTHON"] = str(Path(sys.prefix) / "bin" / "python")
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--expr", pipeline_expr(ds, "step2-transcript-base.shards.v0"),
                           "--builders", "ssh-ng://root@127.0.0.1 x86_64-linux - 1 1 cuda cuda",
                           "--option", "system-features", LOCAL_FEATURES], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode != 0
    assert "ssh-ng://root@127.0.0.1" in proc.stderr, proc.stderr
