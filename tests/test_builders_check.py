"""builders/check without a builder: the store URI it reaches the builder with, the cause each
failure names (on messages Nix, OpenSSH, glibc, torch and CTranslate2 really print), and the
probe model whose absence is a failure, never a skip.

The end-to-end runs against a simulated builder are in tests/test_simbuilder.py.
"""
from __future__ import annotations

import argparse
import base64
import ctypes
import glob
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.parse
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK = REPO / "builders" / "check"
SITE = Path(sysconfig.get_paths()["purelib"])
NIX_CONFIG = "\n".join(["experimental-features = nix-command flakes", "substituters =",
                        "build-users-group =", "sandbox = relaxed"])


@pytest.fixture
def check():
    """builders/check (a script without .py) loaded as a fresh module (empty ``failures``)."""
    loader = importlib.machinery.SourceFileLoader("builders_check", str(CHECK))
    spec = importlib.util.spec_from_loader("builders_check", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def builder(check, uri="ssh-ng://nixremote@gpu1.example", ssh_key=None, host_key=None):
    return check.Builder(argparse.Namespace(uri=uri, system="x86_64-linux", timeout=120,
                                            ssh_key=ssh_key, host_key=host_key))


# --- reach: the store URI -------------------------------------------------------------
# Nix 2.8.0 (tag commit 69c6fb12eea4) src/libstore/ssh-store.cc, SSHStoreConfig:
#   Setting<Path> sshKey{..., "ssh-key", ...}; Setting<std::string> sshPublicHostKey{...,
#   "base64-ssh-public-host-key", ...}; url.cc decodeQuery percent-decodes the values.
# Current Nix (master 88b09c64fbea) common-ssh-store-config.hh, CommonSSHStoreConfig: the same
# two names. machines.cc Machine::openStore sets exactly these from machines-line fields 3 and 8.
HOST_KEY = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUt6R212MWdaQUlhdnpRRUEyTUpUM3VDTUlRdlZZSGEvb2RsdHJFcVJ5SVogc2ltYnVpbGRlci1ob3N0LXNieAo="


def test_store_uri_carries_the_key_and_the_pinned_host_key(check):
    b = builder(check, ssh_key="/etc/nix/builder_ed25519", host_key=HOST_KEY)
    base, _, query = b.store_uri.partition("?")
    assert base == "ssh-ng://nixremote@gpu1.example"
    params = dict(kv.split("=", 1) for kv in query.split("&"))
    assert set(params) == {"ssh-key", "base64-ssh-public-host-key"}
    # '+', '/', '=' of base64 are percent-encoded (Nix decodes them; a bare '+' is not a space)
    assert "+" not in params["base64-ssh-public-host-key"] and "/" not in params["base64-ssh-public-host-key"]
    assert urllib.parse.unquote(params["base64-ssh-public-host-key"]) == HOST_KEY
    assert urllib.parse.unquote(params["ssh-key"]) == "/etc/nix/builder_ed25519"
    # the machines line keeps them in its own fields, as builds read them
    assert b.machines == f"ssh-ng://nixremote@gpu1.example x86_64-linux /etc/nix/builder_ed25519 1 1 cuda cuda {HOST_KEY}"


def test_store_uri_keeps_other_parameters_and_schemes(check):
    assert check.store_uri("ssh-ng://h", None, None) == "ssh-ng://h"
    assert check.store_uri("ssh://h?remote-program=/x", "/k", None) == "ssh://h?remote-program=/x&ssh-key=%2Fk"
    assert check.store_uri("ssh-ng://h?ssh-key=/mine", "/k", None) == "ssh-ng://h?ssh-key=/mine"
    assert check.store_uri("daemon", "/k", HOST_KEY) == "daemon"
    # a relative --ssh-key becomes absolute (Nix's ssh may run in another directory)
    assert builder(check, ssh_key="k").ssh_key == os.path.abspath("k")


def test_credentials_are_checked_before_connecting(check, tmp_path):
    priv = tmp_path / "key"
    priv.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (tmp_path / "key.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK x\n")
    assert check.credentials_problem(builder(check, ssh_key=str(priv), host_key=HOST_KEY)) is None
    assert "cannot be read" in check.credentials_problem(builder(check, ssh_key=str(tmp_path / "nope")))
    assert "is a public key" in check.credentials_problem(builder(check, ssh_key=str(tmp_path / "key.pub")))
    raw = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK host"
    assert "is not base64" in check.credentials_problem(builder(check, host_key=raw))
    with_host = base64.b64encode(b"gpu1.example " + raw.encode()).decode()
    assert "drop the host name" in check.credentials_problem(builder(check, host_key=with_host))


# --- connection causes: what Nix 2.8.0 + OpenSSH 9.2p1 print -------------------------
# Captured with `nix store ping --store ssh-ng://sbx?...` against tests/simbuilder.py.
AUTH_REFUSED = """Store URL: ssh-ng://sbx
root@127.0.0.1: Permission denied (publickey).
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""
KEY_UNREADABLE = """Store URL: ssh-ng://sbx
Warning: Identity file /tmp/exp/nope not accessible: No such file or directory.
root@127.0.0.1: Permission denied (publickey).
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""
HOST_KEY_UNKNOWN = """Store URL: ssh-ng://sbx
No ED25519 host key is known for sbx and you have requested strict checking.
Host key verification failed.
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""
HOST_KEY_UNDER_OTHER_NAME = """Store URL: ssh-ng://sbx
No ED25519 host key is known for [127.0.0.1]:56845 and you have requested strict checking.
Host key verification failed.
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""
HOST_KEY_CHANGED = """Store URL: ssh-ng://sbx
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:3v+mVUPv8v5RToGjbPz3FhwO/srsaQo2AGq74Ocm3ew.
Please contact your system administrator.
Add correct host key in /tmp/nix-12017-0/host-key to get rid of this message.
Offending ED25519 key in /tmp/nix-12017-0/host-key:1
  remove with:
  ssh-keygen -f "/tmp/nix-12017-0/host-key" -R "sbx"
Host key for sbx has changed and you have requested strict checking.
Host key verification failed.
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""
REFUSED = """Store URL: ssh-ng://sbx
ssh: connect to host 127.0.0.1 port 1: Connection refused
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""
UNRESOLVABLE = """Store URL: ssh-ng://nosuchhost.invalid
ssh: Could not resolve hostname nosuchhost.invalid: Name or service not known
error: cannot open connection to remote store 'ssh-ng://nosuchhost.invalid': error: unexpected end-of-file
"""
NO_DAEMON = """Store URL: ssh-ng://sbx
bash: /nonexistent/nix-daemon: No such file or directory
error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
"""


@pytest.mark.parametrize("err, key, host_key, expected", [
    (AUTH_REFUSED, None, HOST_KEY, ["ssh login refused (auth: Permission denied (publickey))", "root@127.0.0.1",
                                    "no --ssh-key given"]),
    (AUTH_REFUSED, "/etc/nix/builder_ed25519", HOST_KEY, ["login refused", "with --ssh-key /etc/nix/builder_ed25519"]),
    (KEY_UNREADABLE, "/tmp/exp/nope", None, ["login refused", "Identity file /tmp/exp/nope not accessible"]),
    (HOST_KEY_UNKNOWN, "/k", None, ["host key unknown", "no ED25519 key for 'sbx'", "--host-key"]),
    (HOST_KEY_UNDER_OTHER_NAME, "/k", HOST_KEY, ["host key not trusted", "'[127.0.0.1]:56845'",
                                                 "HostKeyAlias sbx"]),
    (HOST_KEY_CHANGED, "/k", HOST_KEY, ["host key mismatch", "SHA256:3v+mVUPv8v5RToGjbPz3FhwO/srsaQo2AGq74Ocm3ew,",
                                        "not the pinned --host-key"]),
    (HOST_KEY_CHANGED, "/k", None, ["host key mismatch", "not the one in known_hosts"]),
    (REFUSED, None, None, ["builder unreachable: ssh: connect to host 127.0.0.1 port 1: Connection refused"]),
    (UNRESOLVABLE, None, None, ["builder unreachable: ssh: Could not resolve hostname nosuchhost.invalid"]),
    (NO_DAEMON, None, None, ["ssh login worked, but no nix-daemon", "/nonexistent/nix-daemon: No such file"]),
])
def test_connection_cause_names_what_ssh_said(check, err, key, host_key, expected):
    cause = check.connection_cause(err, builder(check, uri="ssh-ng://sbx", ssh_key=key, host_key=host_key))
    assert cause.startswith("connection: "), cause
    for phrase in expected:
        assert phrase in cause, cause


def test_no_connection_cause_in_other_errors(check):
    assert check.connection_cause(FEATURE_28, builder(check)) is None


# --- build failures: connection before feature before sandbox --------------------------
# Nix 2.8.0 `nix build --builders '<machines line>' --max-jobs 0`, simulated builder:
# the key refused (the machine is dropped, then nothing can build the cuda derivation) ...
CONNECT_BUILD_28 = """root@127.0.0.1: Permission denied (publickey).
cannot build on 'ssh-ng://sbx': error: cannot open connection to remote store 'ssh-ng://sbx': error: unexpected end-of-file
Failed to find a machine for remote build!
derivation: zmfhkfl89j400l0cfrkgg7d9y0wf9c19-x.drv
required (system, features): (x86_64-linux, cuda)
1 available machines:
(systems, maxjobs, supportedFeatures, mandatoryFeatures)
(x86_64-linux, 1, cuda, cuda)
error: unable to start any build; remote machines may not have all required system features.
       https://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html
"""
# ... the builder's system-features without cuda ...
FEATURE_28 = """building '/nix/store/cbzjm8csa4kr6iabbn5rd32qv5qh1r7c-x.drv' on 'ssh-ng://sbx'...
copying 0 paths...
error: build of '/nix/store/cbzjm8csa4kr6iabbn5rd32qv5qh1r7c-x.drv' on 'ssh-ng://sbx' failed: error: a 'x86_64-linux' with features {cuda} is required to build '/nix/store/cbzjm8csa4kr6iabbn5rd32qv5qh1r7c-x.drv', but I am a 'x86_64-linux' with features {benchmark, big-parallel}
error: builder for '/nix/store/cbzjm8csa4kr6iabbn5rd32qv5qh1r7c-x.drv' failed with exit code 1
"""
# ... and sandbox = true on the builder.
SANDBOX_28 = """building '/nix/store/fz0if525svbwfmafciy1wm7qjx49c9vb-x.drv' on 'ssh-ng://sbx'...
copying 0 paths...
error: build of '/nix/store/fz0if525svbwfmafciy1wm7qjx49c9vb-x.drv' on 'ssh-ng://sbx' failed: error: derivation '/nix/store/fz0if525svbwfmafciy1wm7qjx49c9vb-x.drv' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'
error: builder for '/nix/store/fz0if525svbwfmafciy1wm7qjx49c9vb-x.drv' failed with exit code 1
"""
# Current Nix, src/libstore/build/derivation-building-goal.cc (master 88b09c64fbea), colours kept:
FEATURE_CURRENT = ("error: Cannot build '/nix/store/q3x-reelset-check-cuda.drv'.\n"
                   "Reason: \x1b[31;1mmissing system features\x1b[0m\n"
                   "Required features: {cuda}\nAvailable features: {benchmark, big-parallel}\n")
# Nix 2.19 .. 2.33 (see the comment in current Nix's local-settings.hh):
FEATURE_2_2X = ("error: Cannot build '/nix/store/q3x-reelset-check-cuda.drv'.\n"
                "       Reason: required system or feature not available\n"
                "       Required system: 'x86_64-linux' with features {cuda}\n")
# Nix 2.8 daemon.cc:
UNTRUSTED = "error: you are not privileged to build input-addressed derivations\n"
# the store env before issue 36 started in a Debian 11 root (glibc 2.31), as Nix 2.8 reports a failed build
GLIBC_OLD = ("error: builder for '/nix/store/x-reelset-check-cuda-probe.drv' failed with exit code 1;\n"
             "       last 2 log lines:\n"
             "       > /nix/store/s5jy-reelset-python-env/bin/python: /lib/x86_64-linux-gnu/libm.so.6: version `GLIBC_2.35' "
             "not found (required by /nix/store/s5jy-reelset-python-env/bin/python)\n"
             "       > /nix/store/s5jy-reelset-python-env/bin/python: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.33' "
             "not found (required by /nix/store/s5jy-reelset-python-env/bin/python)\n")


@pytest.mark.parametrize("err, kind, phrase", [
    (CONNECT_BUILD_28, "connect", "connection: ssh login refused"),
    (FEATURE_28, "feature", "feature: builder ssh-ng://sbx does not advertise the 'cuda' system feature"),
    (FEATURE_CURRENT, "feature", "feature: "),
    (FEATURE_2_2X, "feature", "feature: "),
    (SANDBOX_28, "sandbox", "sandbox: builder ssh-ng://sbx refuses __noChroot derivations"),
    (UNTRUSTED, "trust", "trust: the ssh user is not in trusted-users"),
    (GLIBC_OLD, "glibc", "glibc: /nix/store/s5jy-reelset-python-env/bin/python needs GLIBC_2.35, newer than the C library of"),
    ("error: builder for '/nix/store/x.drv' failed with exit code 2\n", "other", "the probe failed on"),
    # ssh-like words in the build's own log are not a connection problem
    ("error: builder for '/nix/store/x.drv' failed with exit code 1;\n       last 1 log lines:\n"
     "       > cat: /dev/nvidia0: Permission denied (os error 13)\n", "other", "the probe failed on"),
])
def test_build_failure_names_its_cause_first(check, err, kind, phrase):
    assert check.classify_build_error(err) == kind
    line = check.build_failure(builder(check, uri="ssh-ng://sbx"), "the probe", err)
    assert line.startswith(phrase), line
    assert "\x1b" not in line


# --- the probe: no device, old driver, missing library ---------------------------------
def run_probe(tmp_path: Path, pythonpath: str = "") -> dict:
    """tools/cuda_probe.py run here (no GPU) by this environment's Python; its probe.json."""
    out = tmp_path / f"probe-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "reelsetSpec": json.dumps({"nonce": "t", "whisper": None}), "PYTHONPATH": pythonpath}
    r = subprocess.run([sys.executable, str(REPO / "tools" / "cuda_probe.py"), str(out)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "probe.json").read_text())


def ctranslate2_without(tmp_path: Path, prefix: str) -> Path:
    """A copy of the installed ctranslate2 (symlinks) whose ctranslate2.libs lacks the bundled
    library starting with ``prefix``: importing it fails exactly as on a machine without it."""
    root = tmp_path / "ct2"
    (root / "ctranslate2").mkdir(parents=True)
    (root / "ctranslate2.libs").mkdir()
    for f in (SITE / "ctranslate2").iterdir():
        (root / "ctranslate2" / f.name).symlink_to(f)
    for f in (SITE / "ctranslate2.libs").iterdir():
        if not f.name.startswith(prefix):
            (root / "ctranslate2.libs" / f.name).symlink_to(f)
    return root


def with_gpu(p: dict) -> dict:
    """``p`` as it would be on a machine with a working GPU and driver 580 for torch (the
    CTranslate2 part left as it is)."""
    return {**p, "facts": [], "driver_version": "580.65.06", "driver_cuda": "13.0",
            "torch": {**p["torch"], "available": True, "device": "NVIDIA H200", "error": None,
                      "op": "256x256 float32 matmul (cuBLAS) matches the CPU"}}


def test_probe_without_a_gpu_says_no_device(check, tmp_path):
    """The real probe here (no GPU): the device is the cause, with the real reasons."""
    p = run_probe(tmp_path)
    causes = check.probe_causes(p)
    assert [k for k, _ in causes] == ["device"], causes
    assert "/dev/nvidiactl does not exist" in causes[0][1]
    # the driver's libcuda.so.1 (reelset/device.py diagnose(), glibc's text) is the device, not a gap
    libcuda = next(f for f in p["facts"] if "libcuda.so.1 cannot be loaded" in f)
    assert "libcuda.so.1: cannot open shared object file" in libcuda
    assert check.missing_libraries(libcuda) == []


@pytest.mark.skipif(not glob.glob(str(SITE / "ctranslate2.libs" / "libgomp-*")),
                    reason="this ctranslate2 wheel bundles no libgomp")
def test_probe_names_the_missing_library_and_who_loads_it(check, tmp_path, capsys, monkeypatch):
    """A real missing library: ctranslate2's bundled libgomp taken away, the real probe run.
    Without a GPU the device comes first and the library is added; with one (simulated for
    torch) the library is the cause and the line says so, not "no CUDA device"."""
    gomp = Path(glob.glob(str(SITE / "ctranslate2.libs" / "libgomp-*"))[0]).name
    p = run_probe(tmp_path, pythonpath=str(ctranslate2_without(tmp_path, "libgomp-")))
    assert f"ImportError: {gomp}: cannot open shared object file" in p["ctranslate2"]["error"]
    assert check.probe_causes(p) == [("device", check.probe_causes(p)[0][1]),
                                     ("library", f"missing library {gomp} (loaded by ctranslate2)")]
    gpu = with_gpu(p)
    assert check.probe_causes(gpu) == [("library", f"missing library {gomp} (loaded by ctranslate2)")]

    b = builder(check, uri="ssh-ng://gpu1")
    monkeypatch.setattr(check, "local_whisper", lambda b, expr: ("/nix/store/x-faster-whisper-tiny-en", ""))
    monkeypatch.setattr(check.Builder, "build", lambda self, expr, output="": (True, json.dumps(gpu), ""))
    check.check_probe(b, "n", argparse.Namespace(toolchain="host", venv="/opt/reelset/venv", lock=str(REPO / "requirements.lock"),
                                                 system="x86_64-linux"))
    out = capsys.readouterr().out.splitlines()
    line = next(ln for ln in out if ln.startswith("[FAIL] probe:"))
    assert line.startswith(f"[FAIL] probe: missing library {gomp} (loaded by ctranslate2) in the cuda steps' environment on ssh-ng://gpu1"), line
    # the env line (programs and imports the steps need) names the failed import first
    env = next(ln for ln in out if ln.startswith("[FAIL] env:"))
    assert "ctranslate2: ImportError" in env and gomp in env, env
    assert "no CUDA device" not in line and check.failures == ["env", "probe"]


def test_ctranslate2_missing_cublas_is_a_missing_library(check, tmp_path):
    """CTranslate2 4.x at its first GEMM when libcublas.so.12 is absent (issue 25): the message
    of src/cuda/cublas_stub.cc (OpenNMT/CTranslate2 0d8bcd36, line 66), which this very wheel
    carries."""
    lib = next(iter(glob.glob(str(SITE / "ctranslate2.libs" / "libctranslate2-*"))), None)
    if lib is None:
        pytest.skip("no ctranslate2 wheel library here")
    data = Path(lib).read_bytes()
    assert b" is not found or cannot be loaded" in data and b"libcublas.so.12" in data
    p = with_gpu(run_probe(tmp_path))
    p["ctranslate2"] = {"version": "4.8.5", "cuda_devices": 1, "op": None,
                        "error": "RuntimeError: Library libcublas.so.12 is not found or cannot be loaded"}
    assert check.probe_causes(p) == [("library", "missing library libcublas.so.12 (loaded by ctranslate2)")]


def test_glibc_and_torch_missing_library_messages(check):
    """glibc's own dlerror text (produced here) and torch's _preload_cuda_lib message (its source)."""
    with pytest.raises(OSError) as exc:
        ctypes.CDLL("libreelset-absent.so.12")
    error = f"import torch failed: OSError: {exc.value}"
    assert check.missing_libraries(error) == ["libreelset-absent.so.12"]
    torch_init = (SITE / "torch" / "__init__.py").read_text()
    assert 'raise ValueError(f"{lib_name} not found in the system path {sys.path}")' in torch_init
    error = "import torch failed: ValueError: libcudnn.so.*[0-9] not found in the system path ['/x']"
    assert check.missing_libraries(error) == ["libcudnn.so"]


def test_old_driver_comes_before_missing_libraries(check, tmp_path):
    """An old driver (torch's c10/cuda message and CTranslate2's CUDA_CHECK with
    cudaGetErrorString, both in the installed binaries) is named before a missing library,
    and a missing device before both."""
    c10 = next(iter(glob.glob(str(SITE / "torch" / "lib" / "libc10_cuda.so"))), None)
    lib = next(iter(glob.glob(str(SITE / "ctranslate2.libs" / "libctranslate2-*"))), None)
    if c10 is None or lib is None:
        pytest.skip("no CUDA torch / ctranslate2 wheel here")
    assert b"The NVIDIA driver on your system is too old (found version " in Path(c10).read_bytes()
    ct2 = Path(lib).read_bytes()
    assert b"CUDA failed with error " in ct2 and b"CUDA driver version is insufficient for CUDA runtime version" in ct2
    p = with_gpu(run_probe(tmp_path))
    p["driver_version"], p["driver_cuda"] = "535.183.01", "12.2"
    p["torch"] = {**p["torch"], "available": False, "op": None,
                  "error": "RuntimeError: The NVIDIA driver on your system is too old (found version 12020). "
                           "Please update your GPU driver"}
    p["ctranslate2"] = {"version": "4.8.5", "cuda_devices": 0, "op": None,
                        "error": "RuntimeError: CUDA failed with error CUDA driver version is insufficient for CUDA runtime version"}
    causes = check.probe_causes(p)
    assert [k for k, _ in causes] == ["driver"], causes
    assert "driver 535.183.01 (supports CUDA 12.2) is older than 580" in causes[0][1]
    p["ctranslate2"]["error"] = "RuntimeError: Library libcublas.so.12 is not found or cannot be loaded"
    assert [k for k, _ in check.probe_causes(p)] == ["driver", "library"]
    p["facts"] = ["/dev/nvidiactl does not exist (no NVIDIA driver loaded, …)"]
    assert [k for k, _ in check.probe_causes(p)] == ["device", "driver", "library"]


# --- probe-model: a failure with the command that builds it ------------------------------
def model_expr(script: str) -> str:
    """A model expression shaped like inputs.model's: a store path string of one derivation."""
    return ('"${derivation { name = "reelset-test-probe-model"; system = builtins.currentSystem; '
            f'builder = "/bin/sh"; args = [ "-c" {json.dumps(script)} ]; __noChroot = true; '
            f'nonce = "{uuid.uuid4().hex}"; }}}}"')


@pytest.mark.nix
@pytest.mark.skipif(shutil.which("nix") is None, reason="needs nix")
def test_missing_probe_model_is_a_failure_with_the_command_that_builds_it(check, monkeypatch, capsys):
    """A probe model that does not build is [FAIL] probe-model (not a skip), even when the
    probe itself then runs fine; the command it prints is exactly what builds the model."""
    monkeypatch.setenv("NIX_CONFIG", NIX_CONFIG)
    broken = model_expr("echo 'tiny.en not in the toolchain and no hub access' >&2; exit 1")
    built = []
    monkeypatch.setattr(check, "probe_exprs", lambda a, nonce: (broken, "whisper: PROBE"))
    gpu_ok = {"executable": "/opt/reelset/venv/bin/python", "facts": [], "driver_version": "580.65.06",
              "driver_cuda": "13.0", "ld_library_path": "",
              "torch": {"version": "2.14.1+cu130", "cuda": "13.0", "available": True, "device": "NVIDIA H200",
                        "op": "256x256 float32 matmul (cuBLAS) matches the CPU", "error": None},
              "ctranslate2": {"version": "4.8.5", "cuda_devices": 1, "error": None,
                              "op": "host/GPU copy; no Whisper model given: encoder not run"}}
    monkeypatch.setattr(check.Builder, "build",
                        lambda self, expr, output="": (built.append(expr) or True, json.dumps(gpu_ok), ""))
    check.check_probe(builder(check, uri="ssh-ng://gpu1"), "n", argparse.Namespace(toolchain="host"))
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("[FAIL] probe-model:"))
    assert "[skip]" not in out
    assert "tiny.en not in the toolchain and no hub access" in line, line
    assert check.failures == ["probe-model"], out                   # the rest passed, the run does not
    assert built == ["(whisper: PROBE) null"]                        # the probe ran without a model
    command = line.split("build it with: ", 1)[1]
    assert command == check.model_build_command(broken)
    r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "tiny.en not in the toolchain and no hub access" in r.stderr, r.stderr

    # the same command for a model that builds prints the path local_whisper finds
    good = model_expr("/bin/mkdir $out && echo weights > $out/model.bin")
    path, why = check.local_whisper(builder(check), good)
    assert path and why == "" and Path(path, "model.bin").read_text() == "weights\n"
    r = subprocess.run(["bash", "-c", check.model_build_command(good)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == path, r.stderr


def test_jobs_line_sets_the_gpu_count_against_max_jobs(check):
    """One cuda step per GPU (tools/reelset/gpu_slots.py): maxJobs above the GPU count, or above
    one without the slot locks, fails and says what to set; fewer jobs than GPUs are ok but say
    how many GPUs idle."""
    status, what, msg = check.jobs_verdict(4, 4, ["0", "1", "2", "3"])
    assert (status, what) == ("ok", "jobs") and "maxJobs 4, 4 GPU(s), one step per GPU (slots 0 1 2 3 in /run/reelset/gpu-locks)" in msg
    status, _, msg = check.jobs_verdict(1, 4, ["0"])
    assert status == "FAIL" and "maxJobs 4 > 1 GPU(s)" in msg and "to 1" in msg
    status, _, msg = check.jobs_verdict(2, 2, None)
    assert status == "FAIL" and "would share GPU 0" in msg and "gpuCount" in msg
    status, _, msg = check.jobs_verdict(4, 1, None)
    assert status == "ok" and "3 GPU(s) idle: maxJobs can be 4" in msg
    status, _, msg = check.jobs_verdict(2, 2, [])
    assert status == "ok" and "filled from /dev/nvidia<N>" in msg


def test_the_driver_table_is_the_device_policy_s(check):
    """builders/check reads MIN_DRIVER from its one declaration (reelset.device; issue 40)."""
    from reelset import device

    assert check.MIN_DRIVER == device.MIN_DRIVER
    assert "MIN_DRIVER = {" not in (REPO / "builders" / "check").read_text()
