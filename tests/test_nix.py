"""Through Nix (Debian nix-bin 2.8, host toolchain): builds, schemas, the cuda system feature,
narrow sources, caching, fixed inputs and sharding."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest

from conftest import REPO, nix, nix_build, nix_env
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.registry import ARTIFACTS
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.transcript import TranscriptArtifact
from test_edge_media import two_shots

pytestmark = pytest.mark.nix
SYSTEM_EXPR = "builtins.currentSystem"


def validate_tree(out: Path) -> list[str]:
    """Validate every known artifact below ``out`` (following the aggregate's symlinks)."""
    seen = []
    for name, schema in ARTIFACTS.items():
        for f in out.rglob(name):
            schema.model_validate(orjson.loads(f.read_bytes()))
            seen.append(str(f.relative_to(out)))
    return seen


def pipeline_expr(dataset_dir: Path, attr: str, repo: Path = REPO) -> str:
    """A Nix expression for ``attr`` of lib.mkPipeline over ``dataset_dir`` (host toolchain)."""
    return (f'let r = builtins.getFlake "git+file://{repo}"; '
            f'p = r.lib.mkPipeline {{ system = {SYSTEM_EXPR}; datasetDir = {dataset_dir}; }}; in p.{attr}')


def write_dataset(folder: Path, videos: list[dict], hotword: str, allow_cpu: bool = True) -> Path:
    """A dataset folder with dataset.toml; ``hotword`` makes its ASR derivations unique to the test;
    ``allow_cpu``: its cuda steps may run on the CPU (``[device]``; no GPU here)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['name = "t"', "", *(["[device]", "allow_cpu = true", ""] if allow_cpu else []),
             "[asr]", 'model = "faster-whisper-tiny-en"', f'hotwords = ["{hotword}"]', "",
             "[speakers]", 'model = "resemblyzer-ge2e"', ""]
    for v in videos:
        lines += ["[[videos]]"] + [f'{k} = "{val}"' for k, val in v.items()] + [""]
    (folder / "dataset.toml").write_text("\n".join(lines))
    return folder


@pytest.fixture(scope="module")
def demo_build():
    """`nix build .#host.demo` (cuda feature declared): the demo output and Nix's log."""
    return nix_build(".#host.demo")


def test_demo_steps_build_and_validate(demo_build):
    out, _ = demo_build
    seen = validate_tree(out)
    assert "aggregate.json" in seen
    scenes = ScenesArtifact.model_validate(orjson.loads((out / "step1-scenes/shards/demo01/scenes.json").read_bytes()))
    assert len(scenes.scenes) == 4 and all((out / "step1-scenes/shards/demo01" / s.clip).is_file() for s in scenes.scenes)
    t = TranscriptArtifact.model_validate(
        orjson.loads((out / "step2-transcript-base/shards/demo01/transcript.json").read_bytes()))
    text = " ".join(s.text for s in t.segments)
    assert "Archer" in text and "Lana" in text and "Moscow" in text
    agg = AggregateArtifact.model_validate(orjson.loads((out / "aggregate.json").read_bytes()))
    assert {m.name for m in agg.members} == {"step1-scenes", "step2-transcript-base", "step2-speakers", "step2-bible", "step2-shot-reference",
                                             "step2-transcript-disambiguate", "step2-scene-context", "step2-caption",
                                             "step2-reviewed", "step3-ltx2-data", "step3-wan21-package"}
    meta = json.loads((out / "step2-transcript-base/shards/demo01/meta.json").read_text())
    assert meta["toolchain"]["name"] == "host" and meta["toolchain"]["fingerprint"].startswith("host-lock-")


def test_second_build_builds_nothing(demo_build):
    dry = nix("build", "--impure", "--no-link", "--dry-run", ".#host.demo")
    assert dry.returncode == 0, dry.stderr
    assert "will be built" not in dry.stderr
    again = nix("build", "--impure", "--no-link", "--json", ".#host.demo")
    assert again.returncode == 0 and "building '" not in again.stderr, again.stderr
    assert json.loads(again.stdout)[0]["outputs"]["out"] == str(demo_build[0])


def test_cuda_step_needs_the_cuda_system_feature(tmp_path):
    ds = write_dataset(tmp_path / "ds", [{"id": "v1", "path": "v1.mp4"}], hotword=uuid.uuid4().hex)
    shutil.copy(REPO / "pipelines/demo/demo.mp4", ds / "v1.mp4")
    proc = nix("build", "--impure", "--no-link", "--expr", pipeline_expr(ds, "step2-transcript-base.shards.v1"), cuda=False)
    assert proc.returncode != 0
    assert "with features {cuda} is required" in proc.stderr, proc.stderr
    drv = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step2-transcript-base.shards.v1.data.drvPath"))
    shown = json.loads(nix("show-derivation", drv.stdout, cuda=False).stdout)
    env = next(iter(shown.values()))["env"]
    assert env["requiredSystemFeatures"] == "cuda" and "preferLocalBuild" not in env
    cpu = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step1-scenes.shards.v1.data.drvPath"))
    env1 = next(iter(json.loads(nix("show-derivation", cpu.stdout).stdout).values()))["env"]
    assert env1["preferLocalBuild"] == "1" and "requiredSystemFeatures" not in env1


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A git repo holding the working tree's tracked files (a flake we may edit)."""
    copy = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for rel in filter(None, files):
        src = REPO / rel.decode()
        if src.is_file():
            (copy / rel.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel.decode())
    for cmd in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *cmd], cwd=copy, check=True)
    return copy


def drv_paths(repo: Path) -> dict[str, str]:
    out = {}
    for step in ("step1-scenes", "step2-transcript-base"):
        proc = nix("eval", "--impure", "--raw", f".#host.{step}.shards.demo01.data.drvPath", cwd=repo)
        assert proc.returncode == 0, proc.stderr
        out[step] = proc.stdout
    return out


def test_narrow_sources(repo_copy):
    before = drv_paths(repo_copy)
    tool = repo_copy / "tools/step2_transcript_base.py"
    tool.write_text(tool.read_text() + "\n# an edit of step2's tool only\n")
    after = drv_paths(repo_copy)
    assert after["step1-scenes"] == before["step1-scenes"]
    assert after["step2-transcript-base"] != before["step2-transcript-base"]
    shared = repo_copy / "tools/reelset/media.py"
    shared.write_text(shared.read_text() + "\n# an edit of a shared module\n")
    both = drv_paths(repo_copy)
    assert both["step1-scenes"] != after["step1-scenes"] and both["step2-transcript-base"] != after["step2-transcript-base"]


def test_a_stale_source_closure_fails(repo_copy):
    closures = repo_copy / "nix/sources.json"
    data = json.loads(closures.read_text())
    data["step1_scenes.py"].remove("reelset/media.py")  # as if media.py were a new import gen_docs has not seen
    closures.write_text(json.dumps(data))
    subprocess.run(["git", "add", "-A"], cwd=repo_copy, check=True)
    proc = nix("build", "--impure", "--no-link", ".#host.step1-scenes.shards.demo01", cwd=repo_copy)
    assert proc.returncode != 0
    assert "cannot import name 'media' from 'reelset'" in proc.stderr, proc.stderr
    del data["step1_scenes.py"]  # a new tool gen_docs has not seen: evaluation says what to run
    closures.write_text(json.dumps(data))
    subprocess.run(["git", "add", "-A"], cwd=repo_copy, check=True)
    proc = nix("eval", "--impure", "--raw", ".#host.step1-scenes.shards.demo01.drvPath", cwd=repo_copy)
    assert proc.returncode != 0 and "tools/step1_scenes.py is not in nix/sources.json; run `python tools/gen_docs.py`" in proc.stderr


def test_missing_fixed_input_says_how_to_add_it(tmp_path):
    nonce = uuid.uuid4().hex[:10]
    video = two_shots(tmp_path / f"ep-{nonce}.mp4")
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    ds = write_dataset(tmp_path / "ds", [{"id": "ep", "file": video.name, "sha256": digest}], hotword=nonce)
    expr = pipeline_expr(ds, "step1-scenes.shards.ep")
    proc = nix("build", "--impure", "--no-link", "--expr", expr)
    assert proc.returncode != 0
    assert f"nix --extra-experimental-features nix-command store add-file /path/to/{video.name}" in proc.stderr, proc.stderr
    assert f"nix-store --add-fixed sha256 /path/to/{video.name}" in proc.stderr
    # issue 27: the printed command runs as printed, in a shell whose Nix has no experimental feature on
    line = next(ln for ln in proc.stderr.splitlines() if "store add-file" in ln)
    printed = line[line.index("nix --"):].split("#")[0].split()  # Nix prefixes builder output with "> "
    plain = {k: v for k, v in nix_env(True).items() if k != "NIX_CONFIG"}
    plain["NIX_CONFIG"] = "\n".join(ln for ln in nix_env(True)["NIX_CONFIG"].splitlines() if "experimental-features" not in ln)
    added = subprocess.run([*printed[:-1], str(video)], capture_output=True, text=True, env=plain)
    assert added.returncode == 0, added.stderr
    out, _ = nix_build("--expr", expr)
    scenes = ScenesArtifact.model_validate(orjson.loads((out / "scenes.json").read_bytes()))
    assert scenes.source.file == video.name and len(scenes.scenes) == 2


def test_adding_a_video_builds_only_its_shards(tmp_path):
    nonce = uuid.uuid4().hex[:10]
    ds = tmp_path / "ds"
    ds.mkdir()
    two_shots(ds / "a.mp4")
    two_shots(ds / "b.mp4", size="352x288")
    write_dataset(ds, [{"id": "a", "path": "a.mp4"}], hotword=nonce)
    nix_build("--expr", pipeline_expr(ds, "all"))
    write_dataset(ds, [{"id": "a", "path": "a.mp4"}, {"id": "b", "path": "b.mp4"}], hotword=nonce)
    dry = nix("build", "--impure", "--no-link", "--dry-run", "--expr", pipeline_expr(ds, "all"))
    assert dry.returncode == 0, dry.stderr
    planned = sorted(line.strip().rsplit("/", 1)[-1].split("-", 1)[1] for line in dry.stderr.splitlines()
                     if line.strip().startswith("/nix/store/") and line.strip().endswith(".drv"))
    assert planned == sorted(["reelset-t.drv", "reelset-t-step1-scenes-report.drv", "reelset-t-step1-scenes-b.drv",
                              "reelset-t-step1-scenes-b-report.drv", "reelset-t-step2-transcript-base-report.drv",
                              "reelset-t-step2-transcript-base-b.drv", "reelset-t-step2-transcript-base-b-report.drv",
                              "reelset-t-step2-speakers-report.drv", "reelset-t-step2-speakers-b.drv",
                              "reelset-t-step2-speakers-b-report.drv"]), dry.stderr


def test_host_attributes_evaluate_purely_and_unpinned_models_say_so():
    # the host toolchain's interpreter is a store path (issue 19): pure and impure evaluation agree
    # (REELSET_PYTHON, the escape hatch, is only read with --impure)
    pure = nix("eval", "--raw", ".#host.step1-scenes.drvPath", store_env=True)
    impure = nix("eval", "--impure", "--raw", ".#host.step1-scenes.drvPath", store_env=True)
    assert pure.returncode == 0 and pure.stdout == impure.stdout, pure.stderr + impure.stderr
    # the demo does not pin the real LTX-2 checkpoint: evaluation says how to pin it
    unpinned = nix("eval", "--impure", "--raw", ".#host.step4-ltx2-preprocess.drvPath")
    assert unpinned.returncode != 0 and "model 'ltx-2' (Lightricks/LTX-2 @ main) has no narHash pinned" in unpinned.stderr, unpinned.stderr
    assert "fetch-model ltx-2" in unpinned.stderr
