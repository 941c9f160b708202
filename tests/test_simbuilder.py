"""The simulated ssh-ng GPU builder (tests/simbuilder.py) and builders/check against it.

Each test uses derivations with a fresh nonce so nothing is hidden by caching.  The local
machine never has the ``cuda`` feature here, so a cuda derivation can only be built
remotely.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simbuilder import SimBuilder, nix_env_for, requirements_missing, simbuilder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHECK = REPO / "builders" / "check"
LOCAL_FEATURES = "benchmark big-parallel nixos-test"  # explicitly WITHOUT cuda

pytestmark = [pytest.mark.nix,
              pytest.mark.skipif(bool(requirements_missing()),
                                 reason=f"simulated builder: {requirements_missing()}")]


def cuda_drv(name: str, script: str = 'echo "$nonce" > $out', nonce: str | None = None) -> str:
    """Nix expression of a plain derivation requiring ``cuda`` (no stdenv; /bin/sh)."""
    nonce = nonce or uuid.uuid4().hex
    return (f'derivation {{ name = "{name}"; system = builtins.currentSystem; '
            f'builder = "/bin/sh"; args = [ "-c" {json.dumps(script)} ]; '
            f'requiredSystemFeatures = [ "cuda" ]; __noChroot = true; nonce = "{nonce}"; }}')


def nix_build(tmp_path: Path, expr: str, builders: str, env: dict, attrs=(), max_jobs: int = 1,
              timeout: float = 60) -> subprocess.CompletedProcess:
    f = tmp_path / f"drv-{uuid.uuid4().hex[:8]}.nix"
    f.write_text(expr)
    cmd = ["nix", "build", "--impure", "--no-link", "--json", "--log-format", "raw",
           "-f", str(f), *attrs, "--builders", builders,
           "--option", "system-features", LOCAL_FEATURES,
           "--option", "max-jobs", str(max_jobs)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def out_paths(res: subprocess.CompletedProcess) -> list[str]:
    return [o["outputs"]["out"] for o in json.loads(res.stdout)]


def drv_path(expr: str, tmp_path: Path, env: dict) -> str:
    f = tmp_path / f"inst-{uuid.uuid4().hex[:8]}.nix"
    f.write_text(expr)
    return subprocess.run(["nix-instantiate", str(f)], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def out_of(drv: str, env: dict) -> str:
    return subprocess.run(["nix-store", "-q", "--outputs", drv], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def path_valid(path: str, env: dict) -> bool:
    return subprocess.run(["nix", "path-info", path], env=env, capture_output=True).returncode == 0


def built_on(log: str, drv: str, uri: str) -> bool:
    return f"building '{drv}' on '{uri}'" in log


# --- (a) ------------------------------------------------------------------------------
def test_store_ping(sb1):
    r = subprocess.run(["nix", "store", "ping", "--store", sb1.uri], env=sb1.nix_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Version:" in r.stdout + r.stderr or "version" in (r.stdout + r.stderr).lower()
    # its own store: empty at start, in its own mount namespace
    r = sb1.ssh("ls /nix/store | wc -l; grep system-features /etc/nix/nix.conf")
    assert "cuda" in r.stdout


# --- (b) ------------------------------------------------------------------------------
def test_cuda_derivation_lands_on_builder(sb1, tmp_path):
    env = sb1.nix_env()
    expr = cuda_drv("sb-b")
    drv = drv_path(expr, tmp_path, env)
    out = out_of(drv, env)
    assert not path_valid(out, env)
    r = nix_build(tmp_path, expr, sb1.machines_line(), env)
    assert r.returncode == 0, r.stderr
    assert built_on(r.stderr, drv, sb1.uri), r.stderr
    assert out_paths(r) == [out]
    assert path_valid(out, env)                      # came back to the local store
    assert len(Path(out).read_text().strip()) == 32  # the nonce
    assert sb1.ssh(f"test -e {out} && echo yes").stdout.strip() == "yes"  # built there


def test_mandatory_feature_and_pinned_host_key(sb1, tmp_path):
    """The production machines-line form: key + base64 host key in the line, cuda
    mandatory; ssh config only supplies HostName/Port (no known_hosts file)."""
    sb1.known_hosts.unlink()
    env = sb1.nix_env()
    expr = cuda_drv("sb-pin")
    drv = drv_path(expr, tmp_path, env)
    r = nix_build(tmp_path, expr, sb1.machines_line(mandatory=True, key=True, host_key=True), env)
    assert r.returncode == 0, r.stderr
    assert built_on(r.stderr, drv, sb1.uri), r.stderr
    # a wrong pinned host key is refused, and the error names the builder
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   check=True)
    bad = base64.b64encode((tmp_path / "other.pub").read_bytes()).decode()
    line = sb1.machines_line(mandatory=True, key=True) + " " + bad
    r = nix_build(tmp_path, cuda_drv("sb-pin-bad"), line, env)
    assert r.returncode != 0
    assert f"cannot build on '{sb1.uri}'" in r.stderr, r.stderr


# --- (c) ------------------------------------------------------------------------------
def test_two_builders_share_jobs(sb1, sb2, tmp_path):
    env = nix_env_for([sb1, sb2], tmp_path / "ssh_config")
    nonce = uuid.uuid4().hex
    attrs = [f"j{i}" for i in range(4)]
    expr = "{ " + " ".join(
        f'{a} = {cuda_drv("sb-c-" + a, "s=$(/bin/date +%s.%N); /bin/sleep 2; echo $nonce $s $(/bin/date +%s.%N) > $out", nonce + a)};'
        for a in attrs) + " }"
    # maxJobs 2 each: all 4 run at once. (With maxJobs 1 the 3rd/4th job is postponed and
    # Nix re-polls only every ~5 s, which makes the test slow but still correct.)
    builders = f"{sb1.machines_line(max_jobs=2)} ; {sb2.machines_line(max_jobs=2)}"
    r = nix_build(tmp_path, expr, builders, env, attrs=attrs, max_jobs=4)
    assert r.returncode == 0, r.stderr
    on1 = r.stderr.count(f"' on '{sb1.uri}'")
    on2 = r.stderr.count(f"' on '{sb2.uri}'")
    assert on1 >= 1 and on2 >= 1 and on1 + on2 == 4, r.stderr
    assert all(path_valid(p, env) for p in out_paths(r))
    # the jobs ran at the same time: some two of them overlap (each records its start/end)
    spans = sorted(tuple(map(float, Path(p).read_text().split()[1:])) for p in out_paths(r))
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), spans


# --- (d) ------------------------------------------------------------------------------
def test_unreachable_builder_is_named(tmp_path_factory, tmp_path):
    b = SimBuilder(tmp_path_factory.mktemp("sbdead-"), name="sbdead")
    b.prepare()  # keys + config, but no sshd listening on its port
    try:
        env = b.nix_env()
        r = nix_build(tmp_path, cuda_drv("sb-d"), b.machines_line(), env, timeout=60)
        assert r.returncode != 0
        assert f"cannot build on '{b.uri}'" in r.stderr, r.stderr
        r = subprocess.run(["nix", "store", "ping", "--store", b.uri], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and b.uri in r.stderr, r.stderr
    finally:
        b.stop()


# --- (e) ------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["sshd", "daemon"])
def test_builder_killed_mid_build(sb1, tmp_path, how):
    env = sb1.nix_env()
    hold, started = sb1.dir / "hold", sb1.dir / "started"
    script = (f"/bin/touch {started}; while [ -e {hold} ]; do /bin/sleep 0.1; done; "
              "echo $nonce > $out")
    expr = cuda_drv("sb-e", script)
    drv = drv_path(expr, tmp_path, env)
    out = out_of(drv, env)
    hold.touch()
    f = tmp_path / "e.nix"
    f.write_text(expr)
    cmd = ["nix", "build", "--impure", "--no-link", "--log-format", "raw", "-f", str(f),
           "--builders", sb1.machines_line(), "--option", "system-features", LOCAL_FEATURES]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "build never started on the builder"
            time.sleep(0.05)
        if how == "sshd":
            sb1.kill_sshd()
        else:
            assert sb1.kill_daemon(), "no nix-daemon found in the builder namespace"
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0, err
    assert built_on(err, drv, sb1.uri), err
    assert not path_valid(out, env)            # nothing partial registered locally
    # builder back, job no longer held: the same derivation now builds there
    hold.unlink()
    if how == "sshd":
        sb1.restart()
    r = nix_build(tmp_path, expr, sb1.machines_line(), env)
    assert r.returncode == 0, r.stderr
    assert built_on(r.stderr, drv, sb1.uri), r.stderr
    assert path_valid(out, env)


# --- simbuilder lifecycle ------------------------------------------------------------
def test_stop_cleans_up(tmp_path_factory):
    b = SimBuilder(tmp_path_factory.mktemp("sbx-"), name="sbx").start()
    try:
        # read-only files and directories, like a real store path
        b.ssh("mkdir -p /nix/store/probe/d && echo hi > /nix/store/probe/d/f && "
              "chmod -R a-w /nix/store/probe")
        assert (b.store_dir / "store" / "probe" / "d" / "f").exists()  # its own /nix
        assert not Path("/nix/store/probe").exists()
        pids = b.namespace_pids()
        assert pids
    finally:
        b.stop()
    assert not b.dir.exists()
    assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split(") ")[1][0] != "Z"
                   for p in pids)


def test_cli_start_stop(tmp_path_factory):
    d = tmp_path_factory.mktemp("sbcli-") / "sbcli"
    py = sys.executable
    script = str(Path(__file__).with_name("simbuilder.py"))
    r = subprocess.run([py, script, "start", "--dir", str(d), "--json"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["uri"] == "ssh-ng://sbcli"
    try:
        env = dict(os.environ, **info["env"])
        p = subprocess.run(["nix", "store", "ping", "--store", info["uri"]], env=env,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
    finally:
        r = subprocess.run([py, script, "stop", "--dir", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not d.exists()


# --- builders/check against the simulated builder -------------------------------------
def run_check(args, env, timeout=90):
    return subprocess.run([str(CHECK), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def lockfile(tmp_path):
    f = tmp_path / "requirements.lock"
    f.write_text(f"# test lock {uuid.uuid4().hex}\nnumpy==1.26.4\n")
    return f


def install_fake_venv(b: SimBuilder, venv: Path, lock: Path | None):
    """A 'host toolchain' on the builder: <venv>/bin/python + reelset-lock.sha256."""
    import hashlib
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    py = venv / "bin" / "python"
    if not py.exists():
        py.symlink_to(sys.executable)
    if lock is not None:
        (venv / "reelset-lock.sha256").write_text(hashlib.sha256(lock.read_bytes()).hexdigest() + "\n")


@pytest.mark.skipif(not CHECK.exists(), reason="builders/check not present")
def test_check_success_and_failures(sb1, tmp_path, lockfile):
    env = sb1.nix_env()
    venv = tmp_path / "venv"   # /tmp is shared with the simulated builder
    install_fake_venv(sb1, venv, lockfile)
    ok = run_check([sb1.uri, "--no-gpu", "--venv", str(venv), "--lock", str(lockfile)], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "GPU check skipped (--no-gpu)" in ok.stdout
    assert "cuda" in ok.stdout and "2." in ok.stdout   # feature + remote nix version
    assert "lock fingerprint matches" in ok.stdout

    # lock mismatch
    other = tmp_path / "other.lock"
    other.write_text("numpy==2.0.0\n")
    r = run_check([sb1.uri, "--no-gpu", "--venv", str(venv), "--lock", str(other)], env)
    assert r.returncode == 1 and "lock fingerprint mismatch" in r.stdout + r.stderr

    # missing interpreter
    r = run_check([sb1.uri, "--no-gpu", "--venv", str(tmp_path / "nope"), "--lock",
                   str(lockfile)], env)
    assert r.returncode == 1 and "interpreter not found" in r.stdout + r.stderr

    # GPU check without --no-gpu: the simulated builder has no nvidia-smi
    r = run_check([sb1.uri, "--venv", str(venv), "--lock", str(lockfile)], env)
    assert r.returncode == 1 and "no GPU visible" in r.stdout + r.stderr


@pytest.mark.skipif(not CHECK.exists(), reason="builders/check not present")
def test_check_unreachable_and_no_cuda(tmp_path_factory, tmp_path, lockfile):
    dead = SimBuilder(tmp_path_factory.mktemp("sbdead-"), name="sbdead")
    dead.prepare()
    try:
        r = run_check([dead.uri, "--no-gpu", "--lock", str(lockfile)], dead.nix_env())
        assert r.returncode == 1
        assert f"cannot reach builder {dead.uri}" in r.stdout + r.stderr
    finally:
        dead.stop()
    with simbuilder(tmp_path_factory, "sbcpu", features=("benchmark", "big-parallel")) as cpu:
        venv = tmp_path / "venv"
        install_fake_venv(cpu, venv, lockfile)
        r = run_check([cpu.uri, "--no-gpu", "--venv", str(venv), "--lock", str(lockfile)],
                      cpu.nix_env())
        assert r.returncode == 1
        assert "does not advertise the 'cuda' system feature" in r.stdout + r.stderr


def keyless_ssh_config(b: SimBuilder, path: Path, strict: str = "yes", alias: bool = True) -> Path:
    """An ssh config for ``b`` that names NO key: no IdentityFile (and IdentitiesOnly, so no
    agent key either) and an empty known_hosts file; only HostName/Port/User, the host-key
    alias (ssh looks keys up as "[127.0.0.1]:<port>" otherwise) and strict host-key checking.
    Whatever logs in and is trusted then comes from Nix's own ``-i`` / pinned host key."""
    empty = path.with_suffix(".known_hosts")
    empty.write_text("")
    path.write_text("\n".join([
        f"Host {b.name}", "  HostName 127.0.0.1", f"  Port {b.port}", "  User root",
        *([f"  HostKeyAlias {b.name}"] if alias else []),
        "  IdentitiesOnly yes", f"  UserKnownHostsFile {empty}", "  GlobalKnownHostsFile /dev/null",
        f"  StrictHostKeyChecking {strict}", "  CheckHostIP no", "  BatchMode yes",
        "  PasswordAuthentication no", "  KbdInteractiveAuthentication no", "  ConnectTimeout 5",
        "  LogLevel ERROR", ""]))
    return path


def line_of(out: str, prefix: str) -> str:
    """The first line of ``out`` starting with ``prefix`` (fails the test if there is none)."""
    found = [ln for ln in out.splitlines() if ln.startswith(prefix)]
    assert found, out
    return found[0]


@pytest.mark.skipif(not CHECK.exists(), reason="builders/check not present")
def test_check_reaches_with_key_and_pinned_host_key_when_ssh_config_names_none(sb1, tmp_path):
    """Issue 25: `builders/check URI --ssh-key K --host-key B64` logs in with K and trusts the
    builder because of B64 alone (Nix's ssh-ng store URI parameters ssh-key= and
    base64-ssh-public-host-key=), not because the ssh config happens to name them. Without the
    key, or with a wrong/no pinned host key, reach fails and says which."""
    env = sb1.nix_env(ssh_config=keyless_ssh_config(sb1, tmp_path / "ssh_config"))
    key, host_key = str(sb1.client_key), sb1.host_key_b64
    # the config alone gets nowhere: Nix's bare URI is refused (no key is named anywhere)
    bare = subprocess.run(["nix", "store", "ping", "--store", sb1.uri], env=env, capture_output=True,
                          text=True, timeout=30)
    assert bare.returncode != 0, bare.stdout + bare.stderr

    ok = run_check([sb1.uri, "--ssh-key", key, "--host-key", host_key, "--no-gpu", "--no-venv"], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"[ok] reach: {sb1.uri} answers (remote Nix 2." in ok.stdout, ok.stdout
    assert "[ok] cuda:" in ok.stdout, ok.stdout          # the machines line logs in the same way

    no_key = run_check([sb1.uri, "--host-key", host_key, "--no-gpu", "--no-venv"], env)
    line = line_of(no_key.stdout, "[FAIL] reach:")
    assert no_key.returncode == 1 and "[ok] cuda" not in no_key.stdout
    assert "connection: ssh login refused (auth: Permission denied (publickey))" in line, line
    assert "no --ssh-key given" in line, line

    no_pin = run_check([sb1.uri, "--ssh-key", key, "--no-gpu", "--no-venv"], env)
    line = line_of(no_pin.stdout, "[FAIL] reach:")
    assert "connection: host key unknown" in line and "--host-key" in line, line

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    wrong = base64.b64encode((tmp_path / "other.pub").read_bytes()).decode()
    bad_pin = run_check([sb1.uri, "--ssh-key", key, "--host-key", wrong, "--no-gpu", "--no-venv"], env)
    line = line_of(bad_pin.stdout, "[FAIL] reach:")
    assert "connection: host key mismatch" in line and "not the pinned --host-key" in line, line


@pytest.mark.skipif(not CHECK.exists(), reason="builders/check not present")
def test_check_refuses_a_pin_ssh_would_not_use(sb1, tmp_path):
    """The pinned host key must be what makes ssh trust the builder: with StrictHostKeyChecking
    off ssh logs in whatever key the host shows, and without HostKeyAlias on a non-22 port ssh
    looks the key up as "[127.0.0.1]:<port>", never under the URI's host that Nix pins it for."""
    args = [sb1.uri, "--ssh-key", str(sb1.client_key), "--host-key", sb1.host_key_b64, "--no-gpu", "--no-venv"]
    lax = run_check(args, sb1.nix_env(ssh_config=keyless_ssh_config(sb1, tmp_path / "lax", strict="no")))
    line = line_of(lax.stdout, "[FAIL] reach:")
    assert lax.returncode == 1 and "StrictHostKeyChecking is off" in line, line
    # ... although ssh itself would log in even with a WRONG pinned key there
    env = sb1.nix_env(ssh_config=keyless_ssh_config(sb1, tmp_path / "noalias", alias=False))
    no_alias = run_check(args, env)
    line = line_of(no_alias.stdout, "[FAIL] reach:")
    assert f"ssh looks the host key up as '[127.0.0.1]:{sb1.port}'" in line, line
    assert f"HostKeyAlias {sb1.name}" in line, line


@pytest.mark.skipif(not CHECK.exists(), reason="builders/check not present")
def test_check_names_the_sandbox_refusal(sb1):
    """A builder with sandbox = true refuses the __noChroot probe: the cuda line says sandbox."""
    conf = sb1.etc_nix / "nix.conf"
    conf.write_text(conf.read_text().replace("sandbox = relaxed", "sandbox = true"))
    r = run_check([sb1.uri, "--no-gpu", "--no-venv"], sb1.nix_env())
    line = line_of(r.stdout, "[FAIL] cuda:")
    assert line.startswith("[FAIL] cuda: sandbox: ") and "sandbox = relaxed" in line, line
    assert "has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'" in line, line


@pytest.mark.skipif(not CHECK.exists(), reason="builders/check not present")
def test_check_probe_reports_no_cuda_device_with_the_reason(sb1):
    """The cuda probe (tools/cuda_probe.py through nix/mkStep.nix, host toolchain = this venv)
    builds on the simulated builder, imports torch and CTranslate2 there, finds no GPU and
    says why; the builder is then NOT ready even though every other check passes."""
    r = run_check([sb1.uri, "--venv", sys.prefix, "--lock", str(REPO / "requirements.lock")],
                  sb1.nix_env(), timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "[ok] cuda:" in out and "[ok] venv:" in out, out
    assert "probe-model" not in out, out      # tiny.en was built here and given to the probe
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("[FAIL] probe:"))
    assert f"no CUDA device in the cuda steps' environment on {sb1.uri} (host toolchain" in line
    # both libraries were imported on the builder and asked; the reasons are the real ones
    assert "torch 2." in line and "Found no NVIDIA driver" in line, line
    assert "ctranslate2 4." in line and "get_cuda_device_count() is 0" in line, line
    assert "/dev/nvidiactl does not exist" in line and "libcuda.so.1 cannot be loaded" in line, line
    # the probe ran with the cuda steps' LD_LIBRARY_PATH (nix/toolchains/host.nix envFor; --venv: the escape hatch)
    assert "/run/opengl-driver/lib:/run/current-system/sw/share/nix-ld/lib" in line, line
    env_line = next(ln for ln in r.stdout.splitlines() if ln.startswith(("[ok] env:", "[FAIL] env:")))
    assert env_line.startswith("[ok] env:") and "ctranslate2 4.8.5" in env_line and "xgrammar" in env_line, env_line
    assert "ffmpeg version 6.0-static" in env_line and "ffprobe version 6.0-static" in env_line, env_line
    assert "ready" not in r.stdout.splitlines()[-1].replace("NOT ready", ""), r.stdout
