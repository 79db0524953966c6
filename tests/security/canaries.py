"""Canaries and helpers for the security suite.

Every security test plants something on the host that the sandboxed code
must not reach -- a file holding a random token, a loopback listener, an
environment variable of the launcher, a host process, a file written by a
second sandbox -- then runs hostile code in agentbox and checks two things:
the exact result the sandbox reports (status, limit, exit status, errno seen
inside) and that the canary is untouched.

Hostile code runs only inside agentbox, never in this process: the suite runs
as root, so a mount() or TIOCSTI here would hit the real host.
"""
import hashlib
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time

# Helpers available to the Python code run inside the sandbox.  Each probe
# prints one line "<label>: OK" or "<label>: <ERRNO NAME>" so a test can
# compare the whole stdout exactly.
PRELUDE = '''\
import ctypes, errno, os, socket, sys
_libc = ctypes.CDLL(None, use_errno=True)
def _name(e):
    return errno.errorcode.get(e, str(e))
def attempt(label, fn, *args):
    try:
        r = fn(*args)
    except OSError as e:
        print(f"{label}: {_name(e.errno)}", flush=True)
        return None
    print(f"{label}: OK", flush=True)
    return r
def raw_syscall(label, nr, *args):
    ctypes.set_errno(0)
    r = _libc.syscall(nr, *args)
    e = ctypes.get_errno()
    print(f"{label}: " + (_name(e) if r == -1 else "OK"), flush=True)
    return r
'''


def py(*parts, **params):
    """Python source for the sandbox: PRELUDE, NAME = value lines, then each
    part (dedented on its own)."""
    head = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    return PRELUDE + head + "\n".join(textwrap.dedent(part).strip("\n") + "\n"
                                       for part in parts)


def wait_for_binary(path, timeout=60):
    """The binary is rebuilt concurrently by others: wait while it is missing."""
    deadline = time.monotonic() + timeout
    while not os.access(path, os.X_OK):
        if time.monotonic() > deadline:
            raise AssertionError(f"agentbox binary missing: {path}")
        time.sleep(0.5)


def run_box(box, subcommand, *args, canary=None, timeout=30, stdin=subprocess.DEVNULL,
            pass_fds=(), wrapper=(), binary=None):
    """Runs `agentbox SUBCOMMAND --json ARGS` and returns the parsed result.

    The launcher's environment carries the canary's secret variable, so any
    leak of the launcher environment shows up in the result.  `_exit` is the
    exit status of agentbox, `_wall` the wall-clock seconds the call took.
    """
    path = binary or box.path
    wait_for_binary(path)
    cmd = [*wrapper, path, subcommand, "--json", *args]
    env = canary.env if canary is not None else None
    t0 = time.monotonic()
    for attempt in range(3):
        try:
            p = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=timeout, env=env,
                               pass_fds=pass_fds)
            break
        except OSError:
            # Exec raced with a relink of the binary by another engineer.
            if attempt == 2:
                raise
            time.sleep(1)
            wait_for_binary(path)
    wall = time.monotonic() - t0
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {p.returncode}): {p.stdout[:2000]!r} "
                             f"{p.stderr[:2000]!r}")
    doc["_exit"] = p.returncode
    doc["_wall"] = wall
    doc["_stderr"] = p.stderr.decode("utf-8", "replace")
    return doc


def brief(doc):
    """The result without the bulky parts, for assertion messages."""
    out = {k: v for k, v in doc.items() if k not in ("protections", "error")}
    for k in ("stdout", "stderr", "_stderr"):
        if isinstance(out.get(k), str) and len(out[k]) > 1500:
            out[k] = out[k][:1500] + f"...({len(doc[k])} chars)"
    return "result: " + json.dumps(out, indent=1)


def tree_snapshot(root):
    """Name, type, mode, size, mtime and content hash of everything under root."""
    snap = {}
    root = pathlib.Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = pathlib.Path(dirpath) / name
            st = p.lstat()
            digest = None
            if p.is_file() and not p.is_symlink():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            snap[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                              st.st_uid, digest)
    return snap


def file_digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


class Canary:
    """Host-side secrets the sandbox must neither read, change nor echo.

    - `tmp_file`: /tmp/agentbox-sec-XXXX/secret.txt (mode 0644 in a 0755 dir:
      only the sandbox's own mount namespace keeps it out of reach);
    - `root_file`: /root/agentbox-sec-XXXX/secret.txt;
    - `env_name`=`env_value`: a variable in the launcher's environment.
    Each secret is a different random token; none of them is ever put in the
    code given to the sandbox.
    """

    def __init__(self):
        self.file_token = "filecanary" + secrets.token_hex(12)
        self.root_token = "rootcanary" + secrets.token_hex(12)
        self.env_value = "envcanary" + secrets.token_hex(12)
        self.env_name = "AGENTBOX_SEC_CANARY_" + secrets.token_hex(4).upper()
        self.tmp_dir = pathlib.Path(tempfile.mkdtemp(prefix="agentbox-sec-", dir="/tmp"))
        os.chmod(self.tmp_dir, 0o755)
        self.tmp_file = self.tmp_dir / "secret.txt"
        self.tmp_file.write_text(f"host secret {self.file_token}\n")
        os.chmod(self.tmp_file, 0o644)
        self.root_dir = pathlib.Path(tempfile.mkdtemp(prefix="agentbox-sec-", dir="/root"))
        os.chmod(self.root_dir, 0o755)
        self.root_file = self.root_dir / "secret.txt"
        self.root_file.write_text(f"root secret {self.root_token}\n")
        os.chmod(self.root_file, 0o644)
        self.env = dict(os.environ)
        self.env[self.env_name] = self.env_value
        self.extra_secrets = []
        self.extra_trees = []
        self._snap = self._snapshot()

    def secrets(self):
        return [self.file_token, self.root_token, self.env_value, *self.extra_secrets]

    def watch_tree(self, path):
        """Also require that this host tree stays unchanged."""
        self.extra_trees.append(pathlib.Path(path))
        self._snap = self._snapshot()

    def _snapshot(self):
        trees = [self.tmp_dir, self.root_dir, *self.extra_trees]
        return {str(t): tree_snapshot(t) for t in trees}

    def assert_untouched(self, doc=None):
        """Host files unchanged, and no secret in the result (redaction off)."""
        assert self._snapshot() == self._snap, "a host canary file was changed"
        if doc is not None:
            blob = json.dumps({k: v for k, v in doc.items() if k != "_wall"})
            for s in self.secrets():
                assert s not in blob and s[::-1] not in blob, f"canary {s} leaked: {brief(doc)}"
            # A leak hidden by the output filter would still be a leak.
            assert doc.get("redactions") == 0, brief(doc)

    def cleanup(self):
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        shutil.rmtree(self.root_dir, ignore_errors=True)


class Listener:
    """Loopback listeners of the host that record any contact.

    TCP on 127.0.0.1 and ::1, UDP on 127.0.0.1, an abstract unix socket and a
    unix socket file, all non-blocking: connections complete in the kernel's
    backlog even if nobody accepts, so checking after the run sees them all.
    """

    def __init__(self, directory):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(64)
        self.port = self.tcp.getsockname()[1]
        self.tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.tcp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.tcp6.bind(("::1", 0))
        self.tcp6.listen(64)
        self.port6 = self.tcp6.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        self.abstract_name = "agentbox-sec-" + secrets.token_hex(8)
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind(b"\0" + self.abstract_name.encode())
        self.abstract.listen(64)
        self.unix_path = str(pathlib.Path(directory) / "listener.sock")
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.unix.listen(64)
        self.all = [self.tcp, self.tcp6, self.udp, self.abstract, self.unix]
        for s in self.all:
            s.setblocking(False)

    def contacts(self):
        """Every connection or datagram received so far."""
        seen = []
        for s in (self.tcp, self.tcp6, self.abstract, self.unix):
            while True:
                try:
                    conn, addr = s.accept()
                except BlockingIOError:
                    break
                seen.append((s.family, "connection", addr))
                conn.close()
        while True:
            try:
                data, addr = self.udp.recvfrom(65536)
            except BlockingIOError:
                break
            seen.append((socket.AF_INET, "datagram", addr, data))
        return seen

    def close(self):
        for s in self.all:
            s.close()


def host_processes_with(marker):
    """(pid, cmdline) of every host process whose command line holds marker."""
    found = []
    needle = marker.encode()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle in cmd:
            found.append((int(entry), cmd.replace(b"\0", b" ").decode("utf-8", "replace")))
    return found


def process_state(pid):
    """The State: letter of a host process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except OSError:
        return None
    return None


class HostSentinel:
    """A host process (sleep with a unique argument) the sandbox must not touch."""

    def __init__(self):
        self.marker = f"{600 + secrets.randbelow(100)}.{secrets.randbelow(10**9):09d}1"
        self.proc = subprocess.Popen(["sleep", self.marker], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid

    def assert_alive_and_untraced(self):
        state = process_state(self.pid)
        assert self.proc.poll() is None, "host sentinel process was killed"
        assert state in ("S", "R"), f"host sentinel state {state!r} (stopped or traced?)"
        with open(f"/proc/{self.pid}/status") as f:
            tracer = [l for l in f if l.startswith("TracerPid:")][0].split()[1]
        assert tracer == "0", f"host sentinel is traced by {tracer}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def unique_sleep_arg():
    """A `sleep` argument that is also a unique marker in a command line."""
    return f"{30 + secrets.randbelow(10)}.{secrets.randbelow(10**9):09d}7"


def ok(doc, stdout):
    """The run succeeded and printed exactly `stdout`."""
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["_exit"]) == \
        ("success", None, 0, 0), brief(doc)
    assert doc["stdout"] == stdout, brief(doc)


READ = '''
def read(label, path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"{label}: {_name(e.errno)}")
    else:
        print(f"{label}: READ {data.hex()}")
'''
