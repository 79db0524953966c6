"""Shared helpers of the integration suite: waiting out a rebuild of the binary,
and host-state snapshots for the cleanup tests (processes carrying a marker,
agentbox cgroup directories, host mounts, entries of /tmp)."""
import errno
import json
import os
import pathlib
import re
import subprocess
import time

from results import parse_result

BINARY_WAIT_S = 60

# --------------------------------------------------------------------------
# the binary may be replaced under us

def wait_for_binary(path, wait=BINARY_WAIT_S):
    deadline = time.monotonic() + wait
    while not os.access(path, os.X_OK):
        if time.monotonic() > deadline:
            raise AssertionError(f"agentbox binary missing for {wait}s: {path}")
        time.sleep(0.2)


class RetryBox:
    """Same interface as the shared Box; retries while the binary is being rebuilt."""

    def __init__(self, inner):
        self._inner = inner
        self.path = inner.path

    def run(self, *args, **kw):
        for attempt in range(40):
            wait_for_binary(self.path)
            try:
                p = self._inner.run(*args, **kw)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ETXTBSY, errno.ENOEXEC) and attempt < 39:
                    time.sleep(0.25)
                    continue
                raise
            # setpriv reports a vanished binary as its own failure (exit 127 and
            # "failed to execute"); that is the rebuild, not the product.
            if (kw.get("user") is not None and p.returncode == 127
                    and b"setpriv" in p.stderr and attempt < 39):
                time.sleep(0.25)
                continue
            return p
        raise AssertionError("unreachable")

    def json(self, *args, **kw):
        return parse_result(self.run(args[0], "--json", *args[1:], **kw))

    def popen(self, *args, **kw):
        """Start agentbox without waiting (for the SIGKILL tests)."""
        for attempt in range(40):
            wait_for_binary(self.path)
            try:
                opts = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
                opts.update(kw)
                return subprocess.Popen([self.path, *args], **opts)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ETXTBSY, errno.ENOEXEC) and attempt < 39:
                    time.sleep(0.25)
                    continue
                raise


# --------------------------------------------------------------------------
# host state

CRASH_TEXT = re.compile(
    r"Traceback \(most recent call last\)|Segmentation fault|core dumped|AddressSanitizer|"
    r"UndefinedBehaviorSanitizer|runtime error:|Assertion .* failed|\babort(ed)?\b|"
    r"double free|stack smashing|\bpanic\b", re.I)


def assert_no_crash_text(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    m = CRASH_TEXT.search(text)
    assert m is None, f"crash/traceback text in agentbox message: {text!r}"


def procs_with(marker):
    """pid -> cmdline of every live host process whose command line contains marker."""
    found = {}
    me = os.getpid()
    needle = marker.encode()
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmd:
            found[int(d.name)] = cmd.replace(b"\0", b" ").decode("utf-8", "replace")[:200]
    return found


def wait_no_procs(marker, wait=3.0):
    deadline = time.monotonic() + wait
    while True:
        left = procs_with(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")


def cgroup_parents():
    """The directories agentbox makes its per-run groups in, for a child of this process:
    /sys/fs/cgroup/<controller>/<own cgroup path>/agentbox (v1) and
    /sys/fs/cgroup/<own path>/agentbox (v2)."""
    parents = set()
    for line in pathlib.Path("/proc/self/cgroup").read_text().splitlines():
        num, ctrls, path = line.split(":", 2)
        rel = path.lstrip("/")
        if num == "0" and ctrls == "":
            if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                parents.add(os.path.join("/sys/fs/cgroup", rel, "agentbox"))
            continue
        for c in ctrls.split(","):
            if c in CONTROLLERS:
                base = f"/sys/fs/cgroup/{c}"
                if not os.path.isdir(base):
                    base = f"/sys/fs/cgroup/{ctrls}"
                parents.add(os.path.normpath(os.path.join(base, rel, "agentbox")))
    return sorted(parents)


ABOX = re.compile(r"^abox-(\d+)-[0-9a-f]+$")


def abox_groups():
    """[(path, owner pid)] of every per-run agentbox cgroup under our parents."""
    out = []
    for parent in cgroup_parents():
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for n in names:
            m = ABOX.match(n)
            if m:
                out.append((os.path.join(parent, n), int(m.group(1))))
    return out


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def groups_of(pids):
    pids = set(pids)
    return [(p, o) for p, o in abox_groups() if o in pids]


def stale_groups():
    return [(p, o) for p, o in abox_groups() if not pid_alive(o)]


def mounts():
    """Host mount table as a multiset of (mount point, fs type, source)."""
    rows = []
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        f = left.split()
        r = right.split()
        rows.append((f[4], r[0], r[1] if len(r) > 1 else ""))
    return sorted(rows)


# Entries of /tmp made by the tools that drive this machine, not by agentbox.
_TMP_NOISE = re.compile(r"^(bash_tool_|bash_jobs|pytest-of-|tmp[a-z0-9_]{8}$|\.)")


def tmp_entries():
    try:
        return {n for n in os.listdir("/tmp") if not _TMP_NOISE.match(n)}
    except OSError:
        return set()


class HostState:
    """Snapshot of mounts and /tmp, to compare after some runs."""

    def __init__(self):
        self.mounts = mounts()
        self.tmp = tmp_entries()

    def assert_unchanged(self):
        now = mounts()
        assert len(now) == len(self.mounts), (
            f"host mount count changed {len(self.mounts)} -> {len(now)}; "
            f"new: {sorted(set(now) - set(self.mounts))} gone: {sorted(set(self.mounts) - set(now))}")
        new_tmp = tmp_entries() - self.tmp
        # Another engineer may work in /tmp at the same time; only entries that
        # look like agentbox's (or are mount points / directories it could have
        # made) count.
        suspicious = sorted(n for n in new_tmp
                            if re.search(r"abox|agentbox|sandbox|rootfs|jail", n, re.I)
                            or os.path.ismount(os.path.join("/tmp", n)))
        assert not suspicious, f"agentbox left entries in host /tmp: {suspicious}"
