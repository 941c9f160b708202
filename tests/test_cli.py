"""`bin/reelset inspect` and `bin/reelset status` on real Nix builds (host toolchain)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path

import orjson
import pytest

from conftest import REPO, nix, nix_build, nix_env
from reelset import nixinfo
from test_edge_media import two_shots
from test_template import git_copy

pytestmark = pytest.mark.nix
CLI = REPO / "bin" / "reelset"


def reelset(*args: str, cuda: bool = True, extra_config: str = "", cwd: Path | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    env = env if env is not None else nix_env(cuda)
    env["NIX_CONFIG"] = env.get("NIX_CONFIG", "") + extra_config
    env["REELSET_LOCAL_CUDA"] = "1" if cuda else "0"
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def demo_out() -> Path:
    return nix_build(".#host.demo")[0]


def meta(path: Path) -> dict:
    return orjson.loads((path / "meta.json").read_bytes())


def test_inspect_demo_json_matches_the_outputs(demo_out):
    proc = reelset("inspect", str(demo_out), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    agg = orjson.loads((demo_out / "aggregate.json").read_bytes())
    assert info["kind"] == "steps" and info["dataset"] == "demo" and info["path"] == str(demo_out)
    # issue 18: members in pipeline order (the step table's), not aggregate.json's alphabetical one
    order = [s["name"] for s in nixinfo.step_table(REPO)]
    assert [m["name"] for m in info["members"]] == [n for n in order if n in {m["name"] for m in agg["members"]}]
    assert info["artifacts"] == {"aggregate.json": "ok", "meta.json": "ok"}
    assert "timings_s" not in info  # only with --timings (from the build logs)
    for step in info["members"]:
        step_dir = demo_out / step["name"]
        assert step["counts"] == meta(step_dir)["counts"]
        assert "timings_s" not in meta(step_dir)  # outputs hold no wall-clock times
        if step["kind"] == "step":  # a dataset-level step: one output, no shards
            continue
        assert step["kind"] == "shards"
        for shard in step["members"]:
            m = meta(step_dir / "shards" / shard["name"])
            assert shard["counts"] == m["counts"] and shard["devices"] == [m["device"]]
            assert shard["models"] == sorted({f"{x['repo']}@{x['revision']}" for x in m["models"]})
            assert all(v == "ok" for v in shard["artifacts"].values()), shard["artifacts"]
    scenes = next(s for s in info["members"] if s["name"] == "step1-scenes")
    assert scenes["counts"]["scenes"] == 4


def test_inspect_timings_come_from_the_build_log(demo_out):
    shard = demo_out / "step2-transcript-base/shards/demo01"
    data = (shard / "meta.json").resolve().parent  # the report links the compute output's files
    log_text = subprocess.run(["nix-store", "--read-log", str(data)], capture_output=True, text=True).stdout
    from reelset.log import parse_timings
    logged = parse_timings(log_text)
    assert logged and logged["total"] > 0 and "asr" in logged, log_text[-2000:]
    proc = reelset("inspect", str(shard), "--timings", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["timings_s"] == logged
    text = reelset("inspect", str(demo_out), "--timings")
    assert text.returncode == 0 and "total step time" in text.stdout and "time s" in text.stdout, text.stdout
    shard_text = reelset("inspect", str(shard), "--timings").stdout
    assert f"asr: {logged['asr']}" in shard_text


def test_inspect_text_of_the_demo_and_of_a_shard(demo_out):
    proc = reelset("inspect", str(demo_out))
    assert proc.returncode == 0, proc.stderr
    transcript = meta(demo_out / "step2-transcript-base/shards/demo01")
    n_steps = len(orjson.loads((demo_out / "aggregate.json").read_bytes())["members"])
    assert f"dataset demo: {n_steps} steps" in proc.stdout
    assert f"words: {transcript['counts']['words']}" in proc.stdout and "scenes: 4" in proc.stdout
    assert "Systran/faster-whisper-tiny.en@" in proc.stdout
    shard = reelset("inspect", str(demo_out / "step2-transcript-base/shards/demo01"))
    assert shard.returncode == 0, shard.stderr
    assert "step2-transcript-base · shard demo01" in shard.stdout
    one = reelset("inspect", str(demo_out / "step1-scenes"))
    assert one.returncode == 0 and "step1-scenes · 1 shard\n" in one.stdout, one.stdout  # not "1 shards"
    assert f"device     {transcript['device']}" in shard.stdout and "transcript.json ok" in shard.stdout


def test_inspect_errors_name_the_path(tmp_path, demo_out):
    missing = reelset("inspect", str(tmp_path / "nope"))
    assert missing.returncode == 2 and f"{tmp_path / 'nope'}: no such file or directory" in missing.stderr
    empty = reelset("inspect", str(tmp_path))
    assert empty.returncode == 2 and "not a reelset step output (no meta.json" in empty.stderr
    copy = tmp_path / "shard"
    shutil.copytree(demo_out / "step1-scenes/shards/demo01", copy)
    (copy / "scenes.json").chmod(0o644)
    (copy / "scenes.json").write_text('{"video_id": "demo01"}')
    bad = reelset("inspect", str(copy))
    assert bad.returncode == 0, bad.stderr
    assert "INVALID scenes.json" in bad.stdout and "does not match schema ScenesArtifact" in bad.stdout
    (copy / "meta.json").chmod(0o644)
    (copy / "meta.json").write_text("{not json")
    broken = reelset("inspect", str(copy))
    assert broken.returncode == 2 and f"{copy / 'meta.json'}: not valid JSON" in broken.stderr


def test_status_of_the_built_demo_is_all_in_store(demo_out):
    proc = reelset("status", "--json")
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    built = {s["name"]: s for s in st["steps"] if s["derivations"]}
    members = [m["name"] for m in orjson.loads((demo_out / "aggregate.json").read_bytes())["members"]]
    per_video = {t["name"] for t in nixinfo.step_table(REPO) if t.get("perVideo")}
    # exactly the members of `all` have derivations: an opt-in step without its section is "opt-in",
    # even one that would evaluate (a package step of a family the demo leaves out)
    assert set(built) == set(members) and {"step1-scenes", "step2-transcript-base"} <= set(built)
    assert {s["name"]: s["state"] for s in st["steps"]}["step3-wan22-package"] == "opt-in"
    for s in built.values():
        assert s["state"] == "in-store" and {d["action"] for d in s["derivations"]} == {"in-store"}
        # video-level steps and the dataset steps whose work runs per video (`perVideo`) list their shards
        sharded = (demo_out / s["name"] / "shards").is_dir() or s["name"] in per_video
        assert [d["shard"] for d in s["derivations"]] == ([None, "demo01"] if sharded else [None])
        assert all(Path(d["drv"]).name.endswith(".drv") for d in s["derivations"])
    top = {s["name"]: s for s in st["steps"]}
    # the demo has no [ltx2_preprocess]: opt-in steps say how to turn them on
    assert top["step4-ltx2-preprocess"]["state"] == "opt-in" and "[ltx2_preprocess]" in top["step4-ltx2-preprocess"]["error"]
    text = reelset("status")
    assert text.returncode == 0, text.stderr
    in_store = sum(len(s["derivations"]) for s in built.values())
    assert st["totals"] == {"in-store": in_store}
    assert "step1-scenes" in text.stdout and f"total: {in_store} in store, 0 to fetch, 0 to build" in text.stdout
    assert "off: add [ltx2_preprocess] to dataset.toml" in text.stdout


@pytest.fixture(scope="module")
def new_dataset_repo(tmp_path_factory) -> tuple[Path, str]:
    """A reelset copy with a new dataset (unique name: nothing of it is built) of one path video
    and one fixed-input video that is not in the store."""
    repo = git_copy(tmp_path_factory.mktemp("status") / "reelset")
    name = f"st{uuid.uuid4().hex[:8]}"
    ds = repo / "pipelines" / name
    ds.mkdir(parents=True)
    two_shots(ds / "a.mp4", size="160x120")
    absent = two_shots(tmp_path_factory.mktemp("absent") / f"absent-{name}.mp4", size="160x120", seconds=1)
    digest = hashlib.sha256(absent.read_bytes()).hexdigest()
    (ds / "dataset.toml").write_text(
        f'name = "{name}"\n\n[asr]\nmodel = "faster-whisper-tiny-en"\n[speakers]\nmodel = "resemblyzer-ge2e"\n\n[[videos]]\nid = "a"\npath = "a.mp4"\n\n'
        f'[[videos]]\nid = "b"\nfile = "{absent.name}"\nsha256 = "{digest}"\n')
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    return repo, name


@pytest.mark.parametrize(("cuda", "extra", "cuda_action"), [
    (True, "", "build-local-cuda"),
    (False, "", "no-cuda-machine"),
    (False, "\nbuilders = ssh-ng://gpu-box x86_64-linux - 1 1 cuda", "build-cuda-builder"),
])
def test_status_of_a_new_dataset_says_where_each_derivation_builds(new_dataset_repo, cuda, extra, cuda_action):
    repo, name = new_dataset_repo
    proc = reelset("status", "--flake", f"git+file://{repo}", "--dataset", name, "--json", cuda=cuda, extra_config=extra)
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    steps = {s["name"]: s for s in st["steps"]}
    scenes, asr = steps["step1-scenes"], steps["step2-transcript-base"]
    assert [(d["shard"], d["action"]) for d in scenes["derivations"]] == \
        [(None, "build-local"), ("a", "build-local"), ("b", "build-local")]
    assert [(d["shard"], d["action"]) for d in asr["derivations"]] == \
        [(None, "build-local"), ("a", cuda_action), ("b", cuda_action)]
    assert all(d["features"] == ["cuda"] for d in asr["derivations"][1:])
    assert [f["name"] for f in st["fixed_inputs"]] == [f"absent-{name}.mp4"]
    # cuda: step2-transcript-base and step2-speakers of both videos; local: the scenes shards and
    # the three aggregates
    assert st["totals"][cuda_action] == 4 and st["totals"]["build-local"] == 5
    if extra:
        assert [b["uri"] for b in st["builders"]] == ["ssh-ng://gpu-box"] and st["builders"][0]["features"] == ["cuda"]
    text = reelset("status", "--flake", f"git+file://{repo}", "--dataset", name, cuda=cuda, extra_config=extra)
    assert text.returncode == 0, text.stderr
    assert f"fixed input not in the store: absent-{name}.mp4" in text.stdout
    # issue 27: the total uses the rows' words (a cuda derivation built here is not "needed")
    total = {"build-local-cuda": "4 cuda to build locally (this machine declares the cuda feature)",
             "no-cuda-machine": "4 need a cuda machine (none configured)",
             "build-cuda-builder": "4 to build on a cuda builder"}
    assert total[cuda_action] in text.stdout and ("need a cuda machine" in text.stdout) == (cuda_action == "no-cuda-machine")


def test_status_total_uses_the_words_of_the_rows():
    """Issue 27 (10): a machine that builds its cuda derivations itself is not told they "need a
    cuda machine" in the total while each row says "build locally"."""
    from reelset.cli import format_status

    drvs = [{"action": "build-local-cuda", "shard": "a"}, {"action": "build-local-cuda", "shard": "b"}]
    st = {"flake": ".", "attr": "host", "system_features": ["cuda"], "builders": [], "fixed_inputs": [],
          "steps": [{"name": "step2-transcript-base", "device": "cuda", "level": "video", "state": "ok", "derivations": drvs}],
          "totals": {"build-local-cuda": 2, "build-local": 1}}
    text = format_status(st)
    assert "build locally (this machine declares the cuda feature)" in text
    assert text.splitlines()[-1] == ("total: 0 in store, 0 to fetch, 1 to build on cpu here, "
                                     "2 cuda to build locally (this machine declares the cuda feature)")


def test_status_errors_name_the_dataset(tmp_path):
    proc = reelset("status", "--dataset", str(tmp_path / "pipelines/none"))
    assert proc.returncode == 2 and "no dataset.toml there" in proc.stderr
    unknown = reelset("status", "--dataset", "does-not-exist")
    assert unknown.returncode == 2 and "does-not-exist" in unknown.stderr


def test_parse_dry_run_both_nix_wordings():
    from reelset.nixinfo import parse_dry_run

    nix28 = ("warning: Git tree '/r' is dirty\nthese 2 derivations will be built:\n  /nix/store/a-x.drv\n  /nix/store/b-y.drv\n"
             "these 2 paths will be fetched (1.00 MiB download, 2.00 MiB unpacked):\n  /nix/store/c-z\n  /nix/store/d-w\n")
    got = parse_dry_run(nix28)
    assert got.will_build == ["/nix/store/a-x.drv", "/nix/store/b-y.drv"] and got.will_fetch == ["/nix/store/c-z", "/nix/store/d-w"]
    new = "this derivation will be built:\n  /nix/store/a-x.drv\nthis path will be fetched (0.01 MiB download, 0.02 MiB unpacked):\n  /nix/store/c-z\n"
    got = parse_dry_run(new)
    assert got.will_build == ["/nix/store/a-x.drv"] and got.will_fetch == ["/nix/store/c-z"]
    assert parse_dry_run("warning: Git tree '/r' is dirty\n").will_build == []


def test_parse_builders(tmp_path):
    from reelset.nixinfo import parse_builders

    machines = tmp_path / "machines"
    machines.write_text("# GPU box\nssh-ng://gpu x86_64-linux /k 4 2 cuda,big-parallel - -\n")
    got = parse_builders(f"ssh://cpu x86_64-linux ; @{machines}; @{tmp_path / 'none'}")
    assert [(b.uri, b.systems, b.features) for b in got] == [
        ("ssh://cpu", ["x86_64-linux"], []), ("ssh-ng://gpu", ["x86_64-linux"], ["big-parallel", "cuda"])]


# --------------------------------------------------------------------------- issue 18
def dataset_flake(folder: Path, reelset_src: Path, name: str) -> Path:
    """A dataset flake made from the template in a fresh git folder: one path video, all tracked."""
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    assert nix("flake", "init", "-t", f"git+file://{reelset_src}#dataset", cwd=folder).returncode == 0
    flake = folder / "flake.nix"
    flake.write_text(flake.read_text().replace("git+file:///CHANGE-ME/path/to/reelset", f"git+file://{reelset_src}"))
    two_shots(folder / "ep1.mp4", size="160x120")
    (folder / "dataset.toml").write_text(f'name = "{name}"\n[asr]\nmodel = "faster-whisper-tiny-en"\n[speakers]\nmodel = "resemblyzer-ge2e"\n\n'
                                         '[[videos]]\nid = "ep1"\npath = "ep1.mp4"\n')
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    return folder


@pytest.fixture(scope="module")
def user_flake(tmp_path_factory) -> Path:
    src = git_copy(tmp_path_factory.mktemp("src") / "reelset")
    return dataset_flake(tmp_path_factory.mktemp("user") / "myshow", src, f"u{uuid.uuid4().hex[:8]}")


def test_status_resolves_the_dataset_against_the_callers_directory(user_flake, tmp_path):
    """Issue 18 item 1: in a dataset folder, `status`, `status --flake . --attr host` and
    `status --dataset <folder>` from elsewhere all report that dataset, never the demo."""
    name = tomllib.loads((user_flake / "dataset.toml").read_text())["name"]
    for args, cwd in ((("--json",), user_flake), (("--flake", ".", "--attr", "host", "--json"), user_flake),
                      (("--dataset", str(user_flake), "--json"), tmp_path)):
        proc = reelset("status", *args, cwd=cwd)
        assert proc.returncode == 0, (args, proc.stderr)
        st = json.loads(proc.stdout)
        assert st["flake"] == str(user_flake) and st["attr"] == "host", st["flake"]
        scenes = next(s for s in st["steps"] if s["name"] == "step1-scenes")
        assert [d["shard"] for d in scenes["derivations"]] == [None, "ep1"]
        assert all(f"reelset-{name}-step1-scenes" in d["drv"] for d in scenes["derivations"]), scenes
    outside = reelset("status", "--dataset", str(tmp_path))
    assert outside.returncode == 2 and f"{tmp_path}: no dataset.toml there" in outside.stderr
    assert "builtins" not in outside.stderr  # no Nix code in the message


def test_build_reports_untracked_dataset_files_before_building(user_flake):
    """Issue 18 item 2: review.json / bible.yaml on disk but untracked → exit 2 naming each
    file and the `git add`, and Nix is never started."""
    (user_flake / "review.json").write_text('{"decisions": {}}\n')
    (user_flake / "bible.yaml").write_text("trigger_word: x\n")
    try:
        proc = reelset("build", "step1-scenes", cwd=user_flake)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "review.json (review (review.file), read by step2-reviewed)" in proc.stderr
        assert "bible.yaml (bible (bible.file), read by step2-bible)" in proc.stderr
        assert f"git -C {user_flake} add" in proc.stderr and "bible.yaml" in proc.stderr.split("add")[-1]
        assert "nix build" not in proc.stdout
    finally:
        (user_flake / "review.json").unlink()
        (user_flake / "bible.yaml").unlink()


def test_build_of_one_step_from_the_dataset_folder(user_flake):
    """Issue 18 item 1/6: `reelset build STEP` in a dataset folder (settings carried: the env has
    no NIX_CONFIG) shows the tools' progress and ends with the report and the next step."""
    env = {k: v for k, v in nix_env(True).items() if k != "NIX_CONFIG"}
    proc = reelset("build", "step1-scenes", cwd=user_flake, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[reelset] " in proc.stderr  # -L: the tool's progress lines
    assert f"report: {user_flake}/result-step1-scenes/index.html" in proc.stdout
    assert "next: reelset build step2-transcript-disambiguate" in proc.stdout, proc.stdout
    assert (user_flake / "result-step1-scenes" / "shards" / "ep1" / "scenes.json").is_file()


def test_env_prints_the_settings_and_a_missing_interpreter_names_the_variable(tmp_path):
    """Issue 18 item 3: `reelset env` is what the Makefile sets; a bad REELSET_PYTHON is named."""
    env = {k: v for k, v in os.environ.items() if k not in ("NIX_CONFIG", "REELSET_CLI_EXEC")}
    proc = reelset("env", env=dict(env))
    assert proc.returncode == 0, proc.stderr
    shown = subprocess.run(["bash", "-c", f'eval "$({CLI} env)"; printf %s "$NIX_CONFIG"'], capture_output=True,
                           text=True, env=env).stdout
    assert shown.splitlines() == ["experimental-features = nix-command flakes", "substituters =", "build-users-group =",
                                  "sandbox = relaxed", "extra-system-features = cuda"]
    off = reelset("env", cuda=False, env=dict(env))
    assert "extra-system-features" not in off.stdout
    bad = reelset("env", env={**env, "REELSET_PYTHON": str(tmp_path / "nope")})
    assert bad.returncode != 0 and f"REELSET_PYTHON={tmp_path / 'nope'}: no such interpreter" in bad.stderr
    # plain `nix build` with a missing interpreter fails at evaluation naming the variable
    plain = subprocess.run(["nix", "eval", "--impure", "--raw", f"git+file://{REPO}#host.step1-scenes.drvPath"],
                           capture_output=True, text=True, cwd=tmp_path,
                           env={**nix_env(True), "REELSET_PYTHON": str(tmp_path / "nope")})
    assert plain.returncode != 0 and f"interpreter {tmp_path / 'nope'} does not exist (REELSET_PYTHON)" in plain.stderr


def plan_of(ds: Path) -> dict:
    """nix/pipeline.nix's ``plan`` of the dataset folder ``ds`` (what `reelset status` / `build` read)."""
    expr = (f'let r = builtins.getFlake "git+file://{REPO}"; in '
            f'(r.lib.mkPipeline {{ system = builtins.currentSystem; datasetDir = {ds}; }}).plan')
    proc = nix("eval", "--impure", "--json", "--expr", expr)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_all_says_which_steps_it_leaves_out_and_why(tmp_path):
    """Issue 18 item 2/6: the reasons `reelset build` prints for steps missing from `all`, from the
    plan of nix/pipeline.nix (issue 28: the rules live once, in Nix)."""
    from reelset import entry

    ds = tmp_path / "ds"
    ds.mkdir()
    shutil.copy2(REPO / "pipelines" / "demo" / "demo.mp4", ds / "demo.mp4")
    (ds / "dataset.toml").write_text('name = "x"\n[[videos]]\nid = "v1"\npath = "demo.mp4"\n'
                                     '[ltx2_preprocess]\nmodel = "tiny-ltx2"\n')
    plan = plan_of(ds)
    assert plan["order"] == [s["name"] for s in nixinfo.step_table(REPO)]
    why = entry.left_out(plan, {"step1-scenes", "step2-transcript-base"})
    assert why["step2-bible"].startswith("needs bible.yaml in the dataset folder")
    assert why["step2-shot-reference"] == "needs step2-bible, which is left out"
    assert why["step4-ltx2-preprocess"] == "needs step3-ltx2-data, which is left out"
    assert why["step4-wan21-preprocess"] == ("needs step3-wan21-package, which is left out; opt-in: add a "
                                             "[wan21_preprocess] section to dataset.toml (docs/training.md)")
    assert "step1-scenes" not in why and not plan["steps"]["step2-bible"]["inAll"] and plan["steps"]["step1-scenes"]["inAll"]
    (ds / "bible.yaml").write_text((REPO / "pipelines" / "demo" / "bible.yaml").read_text())
    plan = plan_of(ds)
    members = {n for n, s in plan["steps"].items() if s["inAll"]}
    assert {"step2-bible", "step3-ltx2-data", "step4-ltx2-preprocess"} <= members
    why = entry.left_out(plan, members)
    assert why["step4-wan21-preprocess"] == "opt-in: add a [wan21_preprocess] section to dataset.toml (docs/training.md)"
    assert why["step5-wan21-train"] == ("needs step4-wan21-preprocess, which is left out; opt-in: add a [wan21_train] "
                                        "section to dataset.toml (docs/training.md)")
    assert why["step5-ltx2-train"] == "opt-in: add a [ltx2_train] section to dataset.toml (docs/training.md)"


def test_user_files_are_checked_before_nix_with_file_line_and_fix(user_flake, tmp_path):
    """Issue 38 (5): a trailing comma in review.json, a typo'd dataset.toml key and a bad bible
    field are named with file, line and column (and the likely fix) by build, status and review,
    before Nix evaluates anything."""
    toml = (user_flake / "dataset.toml").read_text()
    line3 = '    "caption_sha256": "' + "0" * 64 + '"},'  # the comma that ends it is the error
    (user_flake / "review.json").write_text('{"decisions": {\n  "ep1-s0001": {"action": "reject", "reason": "blurry",\n'
                                            + line3 + '\n}\n}\n')
    subprocess.run(["git", "add", "review.json"], cwd=user_flake, check=True)
    try:
        for args in (("build", "step1-scenes"), ("status",), ("review", "--port", "0")):
            proc = reelset(*args, cwd=user_flake)
            assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
            assert f"review.json:3:{len(line3)}: not valid JSON: trailing comma before '}}'" in proc.stderr, (args, proc.stderr)
            assert "nix build" not in proc.stdout and "does not evaluate" not in proc.stderr
        (user_flake / "dataset.toml").write_text(toml + "\n[scenes]\ntreshold = 30.0\n")
        proc = reelset("status", cwd=user_flake)
        assert proc.returncode == 2 and "dataset.toml: [scenes] has no key `treshold`; did you mean `threshold`?" in proc.stderr
        (user_flake / "dataset.toml").write_text(toml + "\n[scenes\n")
        proc = reelset("build", cwd=user_flake)
        assert proc.returncode == 2 and f"dataset.toml:{toml.count(chr(10)) + 2}:8: not valid TOML" in proc.stderr, proc.stderr
    finally:
        (user_flake / "dataset.toml").write_text(toml)
        subprocess.run(["git", "rm", "-q", "--cached", "review.json"], cwd=user_flake, check=True)
        (user_flake / "review.json").unlink()
    (user_flake / "bible.yaml").write_text("series: s\ntrigger_word: myshow\ncharacters:\n  - name: Tobias\n    hair: red\n")
    subprocess.run(["git", "add", "bible.yaml"], cwd=user_flake, check=True)
    try:
        proc = reelset("status", cwd=user_flake)
        assert proc.returncode == 2 and "bible.yaml: characters[0] (Tobias).hair (line 5): unknown key" in proc.stderr, proc.stderr
    finally:
        subprocess.run(["git", "rm", "-q", "--cached", "bible.yaml"], cwd=user_flake, check=True)
        (user_flake / "bible.yaml").unlink()
