"""The flake template (`nix flake init -t <reelset>#dataset`) and lib.mkDatasetFlake: a user's own
flake in a temp dir, with reelset as a git+file:// input, builds step1-scenes of a tiny dataset."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest

from conftest import REPO, nix, nix_build
from reelset import nixinfo
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.scenes import ScenesArtifact
from test_edge_media import two_shots

pytestmark = pytest.mark.nix


def git_copy(dest: Path) -> Path:
    """A git repo (nothing committed, all files added) holding the working tree's tracked and
    untracked-but-not-ignored files: the reelset flake as a user would clone it, without .venv
    (a `path:` input of the live tree would copy .venv into the store)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for rel in filter(None, (r.decode() for r in listed)):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for cmd in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *cmd], cwd=dest, check=True)
    return dest


@pytest.fixture(scope="module")
def reelset_copy(tmp_path_factory) -> Path:
    return git_copy(tmp_path_factory.mktemp("reelset") / "reelset")


def current_system() -> str:
    proc = nix("eval", "--impure", "--raw", "--expr", "builtins.currentSystem")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_template_flake_builds_step1_scenes_of_a_tiny_dataset(reelset_copy, tmp_path):
    ds = tmp_path / "myshow"
    ds.mkdir()
    init = nix("flake", "init", "-t", f"git+file://{reelset_copy}#dataset", cwd=ds)
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in ds.iterdir()) == [".gitignore", "README.md", "dataset.toml", "flake.nix"]
    flake = ds / "flake.nix"
    assert "git+file:///CHANGE-ME/path/to/reelset" in flake.read_text()
    flake.write_text(flake.read_text().replace("git+file:///CHANGE-ME/path/to/reelset", f"git+file://{reelset_copy}"))
    # the template's own dataset.toml names a fixed input that is not in the store: the build says how to add it
    missing = nix("build", "--impure", "--no-link", ".#host.step1-scenes", cwd=ds)
    assert missing.returncode != 0 and "nix --extra-experimental-features nix-command store add-file /path/to/MyShow.S01E01.mkv" in missing.stderr, missing.stderr

    name = f"tpl{uuid.uuid4().hex[:8]}"  # a new dataset name: new derivations, so this really builds
    two_shots(ds / "ep1.mp4", size="160x120")
    (ds / "dataset.toml").write_text(f'name = "{name}"\n\n[[videos]]\nid = "ep1"\npath = "ep1.mp4"\n')
    out, log = nix_build(".#host.step1-scenes", cwd=ds)
    assert f"reelset-{name}-step1-scenes-ep1.drv" in log
    agg = AggregateArtifact.model_validate(orjson.loads((out / "aggregate.json").read_bytes()))
    assert agg.dataset == name and [m.name for m in agg.members] == ["ep1"]
    scenes = ScenesArtifact.model_validate(orjson.loads((out / "shards/ep1/scenes.json").read_bytes()))
    assert len(scenes.scenes) == 2 and scenes.source.width == 160
    assert all((out / "shards/ep1" / s.clip).is_file() for s in scenes.scenes)

    # every step of the table is an attribute (host), implemented ones also for the nixpkgs toolchain;
    # listing names never evaluates nixpkgs
    system = current_system()
    table = nixinfo.step_table(reelset_copy)
    host = nix("eval", "--impure", "--json", f".#legacyPackages.{system}.host", "--apply", "builtins.attrNames", cwd=ds)
    assert host.returncode == 0, host.stderr
    assert sorted(json.loads(host.stdout)) == sorted([s["name"] for s in table] + ["all", "plan"])
    pure = nix("eval", "--json", f".#packages.{system}", "--apply", "builtins.attrNames", cwd=ds)
    assert pure.returncode == 0, pure.stderr
    assert sorted(json.loads(pure.stdout)) == sorted([s["name"] for s in table if s["script"]] + ["all", "default"])


def test_mk_dataset_flake_rejects_a_string_dataset_dir(reelset_copy):
    expr = (f'(builtins.getFlake "git+file://{reelset_copy}").lib.mkDatasetFlake {{ datasetDir = "./."; }}')
    proc = nix("eval", "--impure", "--json", "--expr", f"builtins.attrNames ({expr}).legacyPackages.x86_64-linux.host")
    assert proc.returncode != 0
    assert "reelset lib.mkDatasetFlake: datasetDir must be a Nix path such as ./." in proc.stderr, proc.stderr


def test_status_of_a_template_flake(reelset_copy, tmp_path):
    """`reelset status --flake DIR --attr host` on a user's dataset flake: the step just built is in the store."""
    from conftest import nix_env

    ds = tmp_path / "show"
    ds.mkdir()
    assert nix("flake", "init", "-t", f"git+file://{reelset_copy}#dataset", cwd=ds).returncode == 0
    flake = ds / "flake.nix"
    flake.write_text(flake.read_text().replace("git+file:///CHANGE-ME/path/to/reelset", f"git+file://{reelset_copy}"))
    name = f"tpl{uuid.uuid4().hex[:8]}"
    two_shots(ds / "ep1.mp4", size="160x120")
    (ds / "dataset.toml").write_text(f'name = "{name}"\n[asr]\nmodel = "faster-whisper-tiny-en"\n[speakers]\nmodel = "resemblyzer-ge2e"\n\n'
                                     '[[videos]]\nid = "ep1"\npath = "ep1.mp4"\n')
    nix_build(".#host.step1-scenes", cwd=ds)
    proc = subprocess.run([str(REPO / "bin/reelset"), "status", "--flake", str(ds), "--attr", "host", "--json"],
                          capture_output=True, text=True, env=nix_env(True))
    assert proc.returncode == 0, proc.stderr
    steps = {s["name"]: s for s in json.loads(proc.stdout)["steps"]}
    assert steps["step1-scenes"]["state"] == "in-store"
    assert [d["action"] for d in steps["step2-transcript-base"]["derivations"]] == ["build-local", "build-local-cuda"]
    assert len(steps) == len(nixinfo.step_table(reelset_copy))


def test_errors_name_the_users_files_not_their_store_copies(reelset_copy, tmp_path):
    """Issue 27: a dataset flake is evaluated from its store copy, yet a bad key in dataset.toml and
    a bad bible.yaml fail naming the file as the user knows it (relative to the dataset folder),
    never /nix/store/…-dataset.toml or /nix/store/…-source/bible.yaml."""
    ds = tmp_path / "myshow"
    ds.mkdir()
    (ds / "flake.nix").write_text((REPO / "templates/dataset/flake.nix").read_text()
                                  .replace("git+file:///CHANGE-ME/path/to/reelset", f"git+file://{reelset_copy}"))
    two_shots(ds / "ep1.mp4", size="160x120")
    toml = f'name = "err{uuid.uuid4().hex[:8]}"\n\n[[videos]]\nid = "ep1"\npath = "ep1.mp4"\n'
    (ds / "dataset.toml").write_text(toml + "\n[scenes]\ntreshold = 20\n")
    bible = (REPO / "pipelines/demo/bible.yaml").read_text().replace("video: demo01", "video: ep1")
    (ds / "bible.yaml").write_text(bible.replace("{video: ep1, t: 13.0}", "{video: ep1, t: -1}"))
    subprocess.run(["git", "init", "-q"], cwd=ds, check=True)
    subprocess.run(["git", "add", "-A"], cwd=ds, check=True)

    def error_lines(proc) -> list[str]:
        assert proc.returncode != 0
        return [ln for ln in proc.stderr.splitlines() if "error" in ln and "reelset" in ln or "error: bible.yaml" in ln]

    proc = nix("eval", "--impure", "--raw", f".#legacyPackages.{current_system()}.host.step1-scenes.drvPath", cwd=ds)
    lines = error_lines(proc)
    assert any("reelset dataset.toml check: dataset.toml: [scenes] has no key `treshold`; allowed: " in ln for ln in lines), proc.stderr
    assert "/nix/store" not in "\n".join(lines), proc.stderr

    (ds / "dataset.toml").write_text(toml)
    subprocess.run(["git", "add", "-A"], cwd=ds, check=True)
    proc = nix("build", "--impure", "--no-link", ".#host.step2-bible", cwd=ds)
    lines = [ln.strip().removeprefix("> ") for ln in error_lines(proc)]  # the builder's log line
    assert any(ln.startswith("error: bible.yaml: characters[2] (Cyril).reference_shots[0].t (line 29): ") for ln in lines), proc.stderr
    assert "/nix/store" not in "\n".join(ln for ln in lines if "bible.yaml" in ln), proc.stderr

    (ds / "bible.yaml").write_text(bible.replace("{video: ep1, t: 7.0", "{video: ep9, t: 7.0"))
    subprocess.run(["git", "add", "-A"], cwd=ds, check=True)
    proc = nix("build", "--impure", "--no-link", "--dry-run", ".#host.step2-shot-reference", cwd=ds)
    lines = error_lines(proc)
    assert any("reelset: bible.yaml: a reference shot of character Lana names video 'ep9', which dataset.toml does not list"
               " (videos: ep1)" in ln for ln in lines), proc.stderr
    assert "/nix/store" not in "\n".join(lines), proc.stderr

    # a bible in a subfolder (`[bible] file`): the step's error names it by its path in the dataset
    (ds / "meta").mkdir()
    (ds / "meta" / "bible.yaml").write_text(bible.replace("{video: ep1, t: 13.0}", "{video: ep1, t: -1}"))
    (ds / "bible.yaml").unlink()
    (ds / "dataset.toml").write_text(toml + '\n[bible]\nfile = "meta/bible.yaml"\n')
    subprocess.run(["git", "add", "-A"], cwd=ds, check=True)
    proc = nix("build", "--impure", "--no-link", ".#host.step2-bible", cwd=ds)
    lines = [ln.strip().removeprefix("> ") for ln in proc.stderr.splitlines()]
    assert proc.returncode != 0 and any(ln.startswith("error: meta/bible.yaml: characters[2] (Cyril).reference_shots[0].t (line 29): ")
                                        for ln in lines), proc.stderr
