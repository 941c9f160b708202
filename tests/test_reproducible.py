"""Reproducibility (docs/architecture.md, "Reproducibility"): outputs are a function of the inputs,
derivations do not depend on where the checkout lives, and the steps' Python environment reaches
a builder through Nix.

- every derivation of the demo and of pipelines/demo-lora (cpu steps, cuda steps on the CPU with
  their fixed seeds, reports, aggregates, tiny models) passes ``nix build --rebuild``
  (bench/bench_reproducible.py does the work and names the files that differ);
- two copies of the repository in different folders evaluate to the same drvPath for every
  derivation of the demo, and so does this checkout;
- a simulated builder with the checkouts and interpreters other than the base one hidden builds
  the cuda steps of a fresh demo with the store env Nix copied to it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from conftest import REPO, SLOW, nix, nix_build, nix_env
from simbuilder import requirements_missing
from test_rebuild import DEMO_STEPS, copy_repo

pytestmark = pytest.mark.nix

# every derivation of a dataset by role: the step's report, its compute output (.data), per-video
# shards (report + data), reference frames, training segments; plus `all` and the Python env
DRV_PATHS = """ds: env: let
  d = x: x.drvPath;
  one = s: { report = d s; data = d s.data; }
    // (if s ? shards then { shards = builtins.mapAttrs (_: x: { report = d x; data = d x.data; }) s.shards; } else { })
    // (if s ? frames then { frames = builtins.mapAttrs (_: d) s.frames; } else { })
    // (if s ? segments then { segments = map d s.segments; } else { });
in { all = d ds.all; python-env = d env; steps = builtins.listToAttrs (map (n: { name = n; value = one ds.${n}; }) STEPS); }"""


def drv_paths(repo: Path) -> dict:
    """drvPath of every derivation of the demo, evaluated in ``repo`` (cwd = repo)."""
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    fn = DRV_PATHS.replace("STEPS", "[ " + " ".join(f'"{s}"' for s in DEMO_STEPS) + " ]")
    proc = nix("eval", "--impure", "--json", "--expr",  # the store env: what users get (evaluation only)
               f'let f = builtins.getFlake "git+file://{repo}"; h = f.legacyPackages.${{builtins.currentSystem}}.host; '
               f"in ({fn}) h.datasets.demo h.python-env", cwd=repo, store_env=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_two_clones_evaluate_to_the_same_derivations(tmp_path):
    a = copy_repo(tmp_path / "a")
    b = copy_repo(tmp_path / "b" / "deeper")
    got_a, got_b, here = drv_paths(a), drv_paths(b), drv_paths(REPO)
    assert got_a == got_b == here
    assert got_a["steps"]["step2-shot-reference"]["frames"] and got_a["steps"]["step1-scenes"]["shards"]["demo01"]
    # nothing of the checkout's path is in any derivation of the closure
    shown = nix("show-derivation", "-r", got_a["all"], cwd=a, store_env=True)
    assert shown.returncode == 0, shown.stderr
    assert str(tmp_path) not in shown.stdout and str(REPO) not in shown.stdout


# Known, named exceptions (docs/architecture.md, "Reproducibility"): derivation → files that may differ.
# The LTX-2 validation sample: its poster (frame 0) and audio repeat, frames 1-4 of the MP4 do not
# (cause not isolated yet: the tiny LTX-2 generation on the CPU, not the encoder, which repeats
# in-process); the LoRA and everything it is made from are bit-identical.
KNOWN: dict[str, set[str]] = {"reelset-demo-lora-step5-ltx2-train": {"samples/00.mp4"}}


@pytest.mark.parametrize("dataset", ["demo", pytest.param("demo-lora", marks=pytest.mark.skipif(
    not SLOW, reason="REELSET_SLOW_TESTS=1: trains both tiny LoRAs twice (bench/RESULTS.md has the last run)"))])
def test_every_derivation_rebuilds_bit_identical(dataset):
    """``nix build --rebuild`` of every non-fixed-output derivation of the dataset (built first;
    steps run with the test venv's interpreter, the same lock as the store env)."""
    proc = subprocess.run([sys.executable, str(REPO / "bench/bench_reproducible.py"), "--dataset", dataset],
                          capture_output=True, text=True, env=nix_env(cuda=True), timeout=3000)
    print(proc.stdout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert any(" cuda " in ln for ln in lines) and len(lines) >= 20, proc.stdout + proc.stderr[-3000:]
    for ln in lines:
        name, _device, result = ln.split(None, 2)
        if result != "identical":
            files = set(result.removeprefix("differs: ").split(", ")) if result.startswith("differs: ") else {result}
            assert files <= KNOWN.get(name, set()), ln


def fresh_demo(root: Path) -> Path:
    """The demo dataset with its video re-muxed with a nonce (every derivation is new)."""
    ds = root / f"demo-{uuid.uuid4().hex[:8]}"
    ds.mkdir(parents=True)
    for f in ("dataset.toml", "bible.yaml"):
        shutil.copy(REPO / "pipelines/demo" / f, ds / f)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(REPO / "pipelines/demo/demo.mp4"), "-c", "copy",
                    "-metadata", f"comment={uuid.uuid4().hex}", str(ds / "demo.mp4")], check=True)
    return ds


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def hidden_from_builder() -> list[str]:
    """What this machine has and a NixOS builder lacks, hidden from the simulated builder: the
    checkout (its tools, its .venv link) and the test interpreter's installation when it lies
    outside the Nix store (a venv or pyenv: the builder's /nix is its own store; /usr's Python is
    hidden by ``nixos_like``). Nothing more: the checkout may lie anywhere, e.g. a clone in
    /tmp/<name>, whose parent holds the builder's own files (issue 37)."""
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
    own = {p for p in prefixes if not p.is_relative_to("/nix") and p not in (Path("/usr"), Path("/usr/local"))}
    return sorted(str(p) for p in {REPO, Path.home() / ".pyenv", *own})


@pytest.mark.skipif(bool(requirements_missing()), reason=f"simulated builder: {requirements_missing()}")
def test_the_environment_reaches_a_nixos_like_builder(tmp_path_factory, tmp_path):
    """A NixOS-like builder (tests/simbuilder.py ``nixos_like``: no /usr/bin/python3*, no
    /usr/lib/python3*, no ffmpeg/ffprobe, no library of /usr/lib/x86_64-linux-gnu but glibc's;
    also no checkout, .venv or pyenv) builds a fresh demo's step1 shard, its ASR shard
    (``allow_cpu``) and its torch steps (multimodal pass, captions) with only what Nix copied:
    the store env of requirements.lock and the inputs (``--max-jobs 0``: nothing builds here).
    Prints the time and bytes of shipping the env (``nix copy``) and of the build."""
    from simbuilder import SimBuilder
    from test_nix import pipeline_expr

    env_out, _ = nix_build(".#host.python-env", store_env=True)
    sb = SimBuilder(tmp_path_factory.mktemp("sbenv-"), name="sbenv", hide=hidden_from_builder(), nixos_like=True,
                    share=()).start()
    try:
        seen = sb.ssh(f"ls {REPO}/.venv/bin/python {Path(sys.executable)} 2>&1; /usr/bin/python3 -c 'import sys' 2>&1; "
                      "/usr/bin/ffmpeg -version 2>&1; ls /usr/lib/x86_64-linux-gnu /usr/lib/python3.11", check=False)
        assert "No such file" in seen.stdout, seen.stdout
        assert "libc.so.6" in seen.stdout and "libexpat.so.1" not in seen.stdout and "libstdc++" not in seen.stdout, seen.stdout
        assert "ffmpeg version" not in seen.stdout and "os.py" not in seen.stdout, seen.stdout
        env = sb.nix_env(nix_env(cuda=False, store_env=True))
        before = du(sb.store_dir)
        t0 = time.perf_counter()
        copy = subprocess.run(["nix", "copy", "--no-check-sigs", "--to", sb.uri, str(env_out)], env=env,
                              capture_output=True, text=True, timeout=1800)
        ship_s = time.perf_counter() - t0
        assert copy.returncode == 0, copy.stderr
        nar = json.loads(subprocess.run(["nix", "path-info", "--json", str(env_out)], env=env, capture_output=True,
                                        text=True, check=True).stdout)[0]["narSize"]
        grown = du(sb.store_dir) - before
        print(f"\nshipping the env {env_out.name} to a fresh NixOS-like builder: {ship_s:.1f} s, NAR {nar / 1e9:.2f} GB, "
              f"builder store +{grown / 1e9:.2f} GB")

        ds = fresh_demo(tmp_path)
        t0 = time.perf_counter()
        proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", "--log-format", "raw", "--expr",
                               pipeline_expr(ds, "step2-caption.shards.demo01.data"), "--builders", sb.machines_line(),
                               "--max-jobs", "0"],
                              env=env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-4000:]
        print(f"step1 + ASR + torch steps of a fresh demo on the NixOS-like builder: {time.perf_counter() - t0:.1f} s")
        for step in ("step1-scenes", "step2-transcript-base", "step2-transcript-disambiguate", "step2-caption"):
            assert f"-{step}-demo01.drv' on '{sb.uri}'" in proc.stderr, (step, proc.stderr[-3000:])
        out = Path(json.loads(proc.stdout)[0]["outputs"]["out"])
        assert len(orjson.loads((out / "captions.json").read_bytes())["clips"]) == 4
        # builders/check's probe runs the same store env there (no --venv): every program and package
        # the cuda steps need is found, no library is missing; only the device is (issue 25)
        check = subprocess.run([sys.executable, str(REPO / "builders" / "check"), sb.uri, "--lock",
                                str(REPO / "requirements.lock")], env=env, capture_output=True, text=True, timeout=900)
        lines = check.stdout.splitlines()
        print("\n".join(lines))
        env_line = next(ln for ln in lines if ln.startswith(("[ok] env:", "[FAIL] env:")))
        assert env_line.startswith("[ok] env:") and "ffmpeg version 6.0-static" in env_line, check.stdout
        probe = next(ln for ln in lines if ln.startswith(("[ok] probe:", "[FAIL] probe:")))
        assert probe.startswith("[FAIL] probe: no CUDA device") and "missing library" not in probe, check.stdout
        assert f"{env_out}/bin/python" in probe, probe
        failed = {ln.split(":")[0] for ln in lines if ln.startswith("[FAIL]")}
        assert failed <= {"[FAIL] gpu", "[FAIL] probe", "[FAIL] driver"}, check.stdout
    finally:
        sb.stop()
