#!/usr/bin/env python3
"""Simulated GPU builder for Nix remote-build tests (``ssh-ng://``).

A simulated builder is an ``sshd`` listening on ``127.0.0.1:<port>`` that runs inside
its own mount namespace (``unshare --mount --propagation private``).  In that namespace
two directories of the builder's state dir are bind-mounted:

* ``<dir>/nix``     over ``/nix``      -- the builder's OWN, initially empty store.
  (Sharing the client's store deadlocks: the client holds locks the remote daemon
  then waits for.)  Nix creates ``/nix/store`` and ``/nix/var`` on first use.
* ``<dir>/etc-nix`` over ``/etc/nix``  -- its ``nix.conf`` advertises
  ``system-features = cuda benchmark big-parallel kvm nixos-test``, ``sandbox = relaxed``,
  ``trusted-users = root`` and no substituters.

The rest of the file system is the host's. ``hide=[dir, ...]`` mounts an empty tmpfs over
each existing ``dir`` inside the namespace (e.g. the checkouts and their ``.venv``): the
builder then has only what Nix copies to its store.

Authentication is by key only: a throw-away ed25519 client key and host key are
generated in ``<dir>``; the host key is pinned in ``<dir>/known_hosts`` and the client
uses ``StrictHostKeyChecking=yes``.  ``<dir>/ssh_config`` holds a ``Host <name>`` alias
(HostName 127.0.0.1, Port, User root, IdentityFile, UserKnownHostsFile, HostKeyAlias),
so the store URI is simply ``ssh-ng://<name>`` and Nix gets the options through
``NIX_SSHOPTS="-F <dir>/ssh_config"`` (Nix splits NIX_SSHOPTS on whitespace and appends it
to every ``ssh`` it runs; paths must therefore not contain spaces).  For two builders
write one combined config with :func:`write_ssh_config`.

Nix (2.8 .. 2.2x) reaches the remote store by running ``ssh <host> -x -a <NIX_SSHOPTS>
nix-daemon --stdio``; sshd runs that through root's login shell with sshd's default
PATH (``/usr/local/sbin:...:/usr/bin:...``), which finds Debian's ``/usr/bin/nix-daemon``.
``nix-daemon --stdio`` opens the "auto" store; as root with a writable ``/nix/var/nix``
that is the (namespace-local) local store.  ``~/.config/nix`` of the host's root is kept
out of the builder with ``SetEnv NIX_USER_CONF_FILES=/etc/nix/user.conf``.

By hand::

    python tests/simbuilder.py start --dir /tmp/sb1 --port 2201           # name = sb1
    python tests/simbuilder.py start --dir /tmp/sb2 --port 2202
    python tests/simbuilder.py ssh-config --out /tmp/sb.conf /tmp/sb1 /tmp/sb2
    NIX_SSHOPTS="-F /tmp/sb.conf" nix store ping --store ssh-ng://sb1
    python tests/simbuilder.py stop --dir /tmp/sb1

In pytest::

    from simbuilder import simbuilder
    with simbuilder(tmp_path_factory, "sb1") as b:
        env = b.nix_env()                      # NIX_SSHOPTS + NIX_CONFIG for the client
        subprocess.run(["nix", "build", ..., "--builders", b.machines_line()], env=env)

Requires (Debian): openssh-server, openssh-client, util-linux (unshare, mount), nix-bin;
must run as root (mount namespaces, bind mounts, sshd).  See tests/simbuilder.apt.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"

DEFAULT_FEATURES = ("cuda", "benchmark", "big-parallel", "kvm", "nixos-test")
# glibc's own files: all a NixOS builder offers a foreign binary (through nix-ld's loader)
GLIBC_FILES = ("ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
               "libutil.so.1", "libresolv.so.2", "libanl.so.1", "libmvec.so.1", "libnss_files.so.2", "libnss_dns.so.2")
# nixos_like=True: inside the builder's namespace, before sshd starts, everything a NixOS box lacks
# is hidden: the host's Python (/usr/bin/python3*, /usr/lib/python3*), ffmpeg/ffprobe, and every
# library in /usr/lib/x86_64-linux-gnu but glibc's (a tmpfs over the folder, glibc's files bound
# back). The host's libraries stay reachable at @HOSTLIBS@ for sshd and nix-daemon alone
# (LD_LIBRARY_PATH of sshd and, through SetEnv, of its sessions); a build gets the environment
# its derivation gives it, so the steps see none of them.
NIXOS_LIKE_SCRIPT = (
    'mkdir -p @HOSTLIBS@; mount --bind /usr/lib/x86_64-linux-gnu @HOSTLIBS@; export LD_LIBRARY_PATH=@HOSTLIBS@; '
    'mount -t tmpfs -o size=1m,mode=0755 none /usr/lib/x86_64-linux-gnu; '
    # the loader first, through the kept copy's loader (every later exec needs it back)
    ': > /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; '
    '@HOSTLIBS@/ld-linux-x86-64.so.2 /usr/bin/mount --bind @HOSTLIBS@/ld-linux-x86-64.so.2 '
    '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; '
    f'for f in {" ".join(GLIBC_FILES[1:])}; do if [ -f @HOSTLIBS@/$f ]; then '
    ': > /usr/lib/x86_64-linux-gnu/$f; mount --bind @HOSTLIBS@/$f /usr/lib/x86_64-linux-gnu/$f; fi; done; '
    'for f in /usr/bin/python3* /usr/bin/ffmpeg /usr/bin/ffprobe /usr/local/bin/ffmpeg /usr/local/bin/ffprobe; do '
    'if [ -f "$f" ] && [ ! -L "$f" ]; then mount --bind /dev/null "$f"; fi; done; '
    'for d in /usr/lib/python3*; do if [ -d "$d" ]; then mount -t tmpfs -o size=1m,mode=0755 none "$d"; fi; done; '
)

# Client-side settings every test needs on Debian's nix-bin 2.8 (and newer Nix).
CLIENT_NIX_CONFIG = "\n".join([
    "experimental-features = nix-command flakes",
    "substituters =",
    "build-users-group =",
    "sandbox = relaxed",
])


class SimBuilderError(RuntimeError):
    pass


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (racy, but fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mnt_ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _comm(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _rmtree_force(path: Path) -> None:
    """rm -rf that copes with Nix's read-only store files and directories."""
    if not path.exists() and not path.is_symlink():
        return

    def onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o755)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
            func(p)
        except OSError:
            pass

    for root, dirs, _files in os.walk(path):
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                with contextlib.suppress(OSError):
                    os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o755)
    shutil.rmtree(path, onerror=onerror)


def _with_descendants(roots: Iterable[int]) -> list[int]:
    """``roots`` plus all their descendants (by parent pid)."""
    children: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    found = set(roots)
    todo = list(found)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return sorted(found)


class SimBuilder:
    """One simulated builder. State lives in ``dir``; ``name`` is the ssh Host alias."""

    def __init__(self, dir: str | os.PathLike, port: int | None = None, name: str | None = None,
                 features: Iterable[str] = DEFAULT_FEATURES, max_jobs: int = 1,
                 system: str = "x86_64-linux", hide: Iterable[str] = (), nixos_like: bool = False,
                 share: Iterable[str] | None = None):
        self.dir = Path(dir).absolute()
        self.nixos_like = nixos_like
        # client store paths the builder sees read-only at the same path without owning them
        # (default: this test interpreter's store env, see share_default)
        self.share = tuple(share_default() if share is None else share)
        self.name = name or self.dir.name
        self.port = port or free_port()
        self.features = tuple(features)
        self.max_jobs = max_jobs
        self.system = system
        dirs = sorted({str(Path(p).resolve()) for p in hide if Path(p).is_dir()})
        # the builder's own files (sshd_config, its store) must stay visible to it: a checkout cloned
        # to /tmp/<name> has /tmp as parent, where pytest keeps them (issue 37)
        own = str(self.dir.resolve())
        holds_own = [d for d in dirs if own == d or own.startswith(d.rstrip("/") + "/")]
        if holds_own:
            raise SimBuilderError(f"SimBuilder(hide=...): {holds_own[0]} holds the builder's own folder {own}; "
                                  "hide the folders that must not be seen (a checkout, an interpreter), not one above them")
        # a folder below an already hidden one is hidden with it (and no longer exists to mount on)
        self.hide = tuple(d for d in dirs if not any(d.startswith(h + "/") for h in dirs if h != d))
        self.pid: int | None = None
        self.mnt_ns: str | None = None

    # ---- paths ---------------------------------------------------------------------
    @property
    def hostlibs(self) -> Path:
        """nixos_like: where the host's /usr/lib/x86_64-linux-gnu stays visible, for sshd and
        nix-daemon only (their LD_LIBRARY_PATH)."""
        return self.dir / "hostlibs"

    @property
    def store_dir(self) -> Path:
        return self.dir / "nix"

    @property
    def etc_nix(self) -> Path:
        return self.dir / "etc-nix"

    @property
    def client_key(self) -> Path:
        return self.dir / "client_ed25519"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def uri(self) -> str:
        return f"ssh-ng://{self.name}"

    @property
    def host_key_b64(self) -> str:
        """The pinned host key as the machines file wants it (base64 of the .pub line)."""
        return base64.b64encode(self._host_pub().encode()).decode()

    def _host_pub(self) -> str:
        return (self.dir / "ssh_host_ed25519_key.pub").read_text().strip()

    # ---- client-side helpers --------------------------------------------------------
    def ssh_config_block(self) -> str:
        return "\n".join([
            f"Host {self.name}",
            "  HostName 127.0.0.1",
            f"  Port {self.port}",
            "  User root",
            f"  IdentityFile {self.client_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {self.known_hosts}",
            "  GlobalKnownHostsFile /dev/null",
            # Look the key up under the alias: matches our known_hosts AND the temporary
            # known_hosts Nix writes from the machines line's host-key field ("<host> <key>").
            f"  HostKeyAlias {self.name}",
            "  StrictHostKeyChecking yes",
            "  CheckHostIP no",
            "  BatchMode yes",
            "  PasswordAuthentication no",
            "  KbdInteractiveAuthentication no",
            "  ConnectTimeout 5",
            "  ServerAliveInterval 2",
            "  ServerAliveCountMax 3",
            "  LogLevel ERROR",
            "",
        ])

    def machines_line(self, mandatory: bool = False, max_jobs: int | None = None,
                      speed: int = 1, features: Iterable[str] = ("cuda",),
                      key: bool = False, host_key: bool = False) -> str:
        """A machines-file line. Default: ``ssh-ng://<name> x86_64-linux - 1 1 cuda``.

        ``key``/``host_key`` also fill the ssh-key / public-host-key fields (otherwise the
        ssh config supplies them)."""
        feats = ",".join(features) or "-"
        fields = [self.uri, self.system, str(self.client_key) if key else "-",
                  str(max_jobs or self.max_jobs), str(speed), feats,
                  feats if mandatory else "-"]
        if host_key:
            fields.append(self.host_key_b64)
        line = " ".join(fields)
        while line.endswith(" -"):
            line = line[:-2]
        return line

    def nix_env(self, base: dict | None = None, ssh_config: str | os.PathLike | None = None) -> dict:
        """Environment for a client ``nix`` talking to this builder."""
        env = dict(os.environ if base is None else base)
        env["NIX_SSHOPTS"] = f"-F {ssh_config or self.ssh_config}"
        env["NIX_CONFIG"] = CLIENT_NIX_CONFIG + ("\n" + env["NIX_CONFIG"] if env.get("NIX_CONFIG") else "")
        return env

    def ssh(self, command: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Run a shell command on the builder (inside its namespace) over ssh."""
        return subprocess.run(["ssh", "-F", str(self.ssh_config), self.name, command],
                              capture_output=True, text=True, check=check, timeout=timeout, **kw)

    # ---- setup ----------------------------------------------------------------------
    def prepare(self) -> None:
        """Create keys, configs and the (empty) store dir; idempotent (keys are kept)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.store_dir.mkdir(exist_ok=True)
        self.etc_nix.mkdir(exist_ok=True)
        for key, comment in ((self.host_key, f"simbuilder-host-{self.name}"),
                             (self.client_key, f"simbuilder-client-{self.name}")):
            if not key.exists():
                subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment,
                                "-f", str(key)], check=True)
        (self.dir / "authorized_keys").write_text(
            Path(str(self.client_key) + ".pub").read_text())
        host_pub = " ".join(self._host_pub().split()[:2])
        self.known_hosts.write_text(
            f"{self.name} {host_pub}\n[127.0.0.1]:{self.port} {host_pub}\n")
        self.ssh_config.write_text(self.ssh_config_block())
        (self.etc_nix / "nix.conf").write_text("\n".join([
            "# simulated GPU builder (tests/simbuilder.py)",
            f"system-features = {' '.join(self.features)}",
            "sandbox = relaxed",
            "build-users-group =",
            "experimental-features = nix-command flakes",
            "substituters =",
            "trusted-users = root",
            "builders =",
            f"max-jobs = {self.max_jobs}",
            "",
        ]))
        (self.etc_nix / "user.conf").write_text("")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd privilege-separation dir
        self._write_sshd_config()

    def _write_sshd_config(self) -> None:
        base = "\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "AllowUsers root",
            "UsePAM no",
            "StrictModes no",
            "X11Forwarding no",
            "AllowAgentForwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "MaxStartups 64",
            "MaxSessions 64",
            "ClientAliveInterval 2",
            "ClientAliveCountMax 3",
            "LogLevel VERBOSE",
            "SetEnv NIX_USER_CONF_FILES=/etc/nix/user.conf"
            + (f" LD_LIBRARY_PATH={self.hostlibs}" if self.nixos_like else ""),
            "",
        ])
        cfg = self.dir / "sshd_config"
        # OpenSSH >= 9.8 penalises sources after crashes/failed auth; our tests kill
        # sessions on purpose, so disable that where the option exists.
        cfg.write_text(base + "PerSourcePenalties no\n")
        if subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True).returncode != 0:
            cfg.write_text(base)
            t = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True)
            if t.returncode != 0:
                raise SimBuilderError(f"sshd config invalid: {t.stderr.strip()}")

    # ---- lifecycle ------------------------------------------------------------------
    def start(self, timeout: float = 20) -> SimBuilder:
        if os.geteuid() != 0:
            raise SimBuilderError("the simulated builder needs root (mount namespace, sshd)")
        if self.running():
            return self
        self.prepare()
        shared = "".join(f'mkdir -p {self.dir}/shared/{i}; mount --bind {p} {self.dir}/shared/{i}; '
                         for i, p in enumerate(self.share))
        reshare = "".join(f'mkdir -p {p}; mount -o bind,ro {self.dir}/shared/{i} {p}; ' for i, p in enumerate(self.share))
        script = (
            'set -e; ' + shared + 'mount --bind "$1" /nix; ' + reshare + 'mount --bind "$2" /etc/nix; sshd="$3"; cfg="$4"; shift 4; '
            'for p in "$@"; do mount -t tmpfs -o size=1m,mode=0755 none "$p"; done; '
            + (NIXOS_LIKE_SCRIPT.replace("@HOSTLIBS@", str(self.hostlibs)) if self.nixos_like else "")
            + 'exec "$sshd" -D -e -f "$cfg"'
        )
        logf = open(self.log, "ab")
        proc = subprocess.Popen(
            [UNSHARE, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
             "simbuilder", str(self.store_dir), str(self.etc_nix), SSHD,
             str(self.dir / "sshd_config"), *self.hide],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
            close_fds=True)
        logf.close()
        self.pid = proc.pid
        # unshare does not fork: the pid becomes /bin/sh, then exec'd sshd.
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SimBuilderError(
                    f"simulated builder {self.name} exited ({proc.returncode}); log:\n"
                    + self.log.read_text(errors="replace")[-2000:])
            ns = _mnt_ns(self.pid)
            if ns and ns != _mnt_ns("self") and self._port_open():
                self.mnt_ns = ns
                break
            if time.monotonic() > deadline:
                self.stop(remove=False)
                raise SimBuilderError(f"simulated builder {self.name} did not listen on "
                                      f"127.0.0.1:{self.port}; log:\n" + self.log.read_text()[-2000:])
            time.sleep(0.05)
        self._save_state()
        return self

    def _port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _save_state(self) -> None:
        (self.dir / "state.json").write_text(json.dumps({
            "name": self.name, "port": self.port, "pid": self.pid, "mnt_ns": self.mnt_ns,
            "features": list(self.features), "max_jobs": self.max_jobs, "system": self.system,
            "nixos_like": self.nixos_like,
        }))

    @classmethod
    def load(cls, dir: str | os.PathLike) -> SimBuilder:
        d = Path(dir).absolute()
        st = json.loads((d / "state.json").read_text())
        b = cls(d, st["port"], st["name"], st["features"], st["max_jobs"], st["system"],
                nixos_like=st.get("nixos_like", False))
        b.pid, b.mnt_ns = st["pid"], st["mnt_ns"]
        return b

    def namespace_pids(self) -> list[int]:
        """All processes of the builder: those in its mount namespace (sshd, sessions) and
        all their descendants.  Descendants matter: every root ``nix``/``nix-daemon``
        process unshares a private mount namespace of its own (a copy of ours), so the
        per-connection daemon and the builds it runs are in child namespaces."""
        if not self.mnt_ns or self.mnt_ns == _mnt_ns("self"):
            return []
        roots = [int(p) for p in os.listdir("/proc") if p.isdigit() and _mnt_ns(p) == self.mnt_ns]
        return _with_descendants(roots)

    def running(self) -> bool:
        return bool(self.pid and _pid_alive(self.pid) and _mnt_ns(self.pid) == self.mnt_ns)

    def _kill(self, pids: list[int], sig: int = signal.SIGKILL) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        self._reap(pids)

    def _kill_all(self, sig: int = signal.SIGKILL) -> None:
        # Stop the tree first so nothing forks while we kill, then kill; repeat for stragglers.
        for _ in range(3):
            pids = self.namespace_pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP if sig == signal.SIGKILL else sig)
            self._kill(self.namespace_pids() if sig == signal.SIGKILL else pids, sig)

    def _reap(self, pids: list[int], timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)

    def kill_sshd(self) -> None:
        """Simulate the builder dying: SIGKILL everything in its namespace (listener,
        ssh sessions, ``nix-daemon --stdio`` and running builds).  ``restart()`` brings
        it back with the same store, keys and port."""
        self._kill_all()
        self.pid = None

    def kill_daemon(self) -> list[int]:
        """SIGKILL the per-connection ``nix-daemon --stdio`` processes and the builds they
        run (as systemd would when the daemon's unit dies); sshd stays up.  Returns the
        killed nix-daemon pids."""
        daemons = [p for p in self.namespace_pids() if _comm(p).startswith("nix-daemon")]
        self._kill(_with_descendants(daemons))
        return daemons

    def restart(self) -> SimBuilder:
        if self.running():
            self.kill_sshd()
        return self.start()

    def stop(self, remove: bool = True) -> None:
        """Stop sshd and everything in the namespace; remove ``dir`` if ``remove``."""
        pids = self.namespace_pids()
        if pids:
            self._kill(pids, signal.SIGTERM)
            self._kill_all(signal.SIGKILL)
        self.pid = None
        if remove:
            _rmtree_force(self.dir)

    def __enter__(self) -> SimBuilder:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_ssh_config(path: str | os.PathLike, builders: Iterable[SimBuilder]) -> Path:
    """One ssh config with a Host block per builder (for NIX_SSHOPTS="-F <path>")."""
    p = Path(path)
    p.write_text("\n".join(b.ssh_config_block() for b in builders))
    return p


def nix_env_for(builders: Iterable[SimBuilder], ssh_config: str | os.PathLike,
                base: dict | None = None) -> dict:
    """Client env for several builders: writes ``ssh_config`` and sets NIX_SSHOPTS/NIX_CONFIG."""
    builders = list(builders)
    write_ssh_config(ssh_config, builders)
    return builders[0].nix_env(base, ssh_config=ssh_config)


def share_default() -> list[str]:
    """The store env of requirements.lock when this interpreter is it (``make venv`` links .venv
    there): builders that share the client's file system for the REELSET_PYTHON escape hatch of
    the placement tests see it at its path without Nix copying 8 GB to each of them. A builder
    made to prove what Nix copies (``nixos_like``) passes ``share=()``."""
    prefix = os.path.realpath(sys.prefix)
    return [prefix] if prefix.startswith("/nix/store/") else []


@contextlib.contextmanager
def simbuilder(tmp_path_factory, name: str = "sb1", port: int | None = None,
               **kw) -> Iterator[SimBuilder]:
    """pytest helper: ``with simbuilder(tmp_path_factory, "sb1") as b: ...``.

    The state dir is ``tmp_path_factory.mktemp(name)``; the builder is stopped and its
    dir removed afterwards.  Wrap it in a fixture in conftest.py, e.g.::

        @pytest.fixture
        def sb1(tmp_path_factory):
            with simbuilder(tmp_path_factory, "sb1") as b:
                yield b
    """
    d = tmp_path_factory.mktemp(f"{name}-")
    b = SimBuilder(d, port=port, name=name, **kw)
    try:
        b.start()
        yield b
    finally:
        b.stop()


def requirements_missing() -> str | None:
    """Why the simulated builder cannot run here (for pytest.skip), or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in (SSHD, SSH_KEYGEN, UNSHARE, "/usr/bin/nix-daemon"):
        if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
            return f"missing {tool} (apt-get install $(cat tests/simbuilder.apt))"
    if not shutil.which("ssh"):
        return "missing ssh client"
    return None


# ---- CLI -------------------------------------------------------------------------------
def _print_env(builders: list[SimBuilder], cfg: Path) -> None:
    for b in builders:
        print(f"# builder {b.name}: 127.0.0.1:{b.port}, state {b.dir}")
        print(f"uri: {b.uri}")
        print(f"machines: {b.machines_line()}")
        print(f"machines (cuda mandatory, pinned key): "
              f"{b.machines_line(mandatory=True, key=True, host_key=True)}")
    print(f"export NIX_SSHOPTS='-F {cfg}'")
    conf = CLIENT_NIX_CONFIG.replace("\n", "\\n")
    print(f"export NIX_CONFIG=$'{conf}'")
    lines = ";".join(b.machines_line() for b in builders)
    print(f"# e.g.: nix store ping --store {builders[0].uri}")
    print(f"#       nix build --builders '{lines}' ...")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="simulated ssh-ng GPU builder for tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start a builder (detached)")
    s.add_argument("--dir", required=True)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--name", default=None, help="ssh Host alias (default: basename of dir)")
    s.add_argument("--max-jobs", type=int, default=1)
    s.add_argument("--features", default=" ".join(DEFAULT_FEATURES))
    s.add_argument("--json", action="store_true")
    t = sub.add_parser("stop", help="stop a builder and remove its dir")
    t.add_argument("--dir", required=True)
    t.add_argument("--keep", action="store_true", help="keep the state dir")
    k = sub.add_parser("kill", help="SIGKILL everything in the builder namespace (crash)")
    k.add_argument("--dir", required=True)
    k.add_argument("--daemon-only", action="store_true")
    r = sub.add_parser("restart", help="restart a killed builder (same store/keys/port)")
    r.add_argument("--dir", required=True)
    c = sub.add_parser("ssh-config", help="write one ssh config for several builders")
    c.add_argument("--out", required=True)
    c.add_argument("dirs", nargs="+")
    a = ap.parse_args(argv)

    if a.cmd == "start":
        b = SimBuilder(a.dir, a.port, a.name, a.features.split(), a.max_jobs).start()
        if a.json:
            print(json.dumps({"uri": b.uri, "machines": b.machines_line(), "port": b.port,
                              "ssh_config": str(b.ssh_config), "pid": b.pid,
                              "env": {"NIX_SSHOPTS": f"-F {b.ssh_config}",
                                      "NIX_CONFIG": CLIENT_NIX_CONFIG}}))
        else:
            _print_env([b], b.ssh_config)
    elif a.cmd == "stop":
        if not (Path(a.dir) / "state.json").exists():
            print(f"no simulated builder state in {a.dir}", file=sys.stderr)
            return 1
        SimBuilder.load(a.dir).stop(remove=not a.keep)
        print(f"stopped {a.dir}")
    elif a.cmd == "kill":
        b = SimBuilder.load(a.dir)
        if a.daemon_only:
            print("killed nix-daemon pids:", b.kill_daemon())
        else:
            b.kill_sshd()
            b._save_state()
            print(f"killed {a.dir}")
    elif a.cmd == "restart":
        b = SimBuilder.load(a.dir).restart()
        print(f"restarted {b.uri} (pid {b.pid})")
    elif a.cmd == "ssh-config":
        bs = [SimBuilder.load(d) for d in a.dirs]
        cfg = write_ssh_config(a.out, bs).absolute()
        _print_env(bs, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
