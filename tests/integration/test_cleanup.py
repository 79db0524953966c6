"""Nothing of a sandbox outlives its run: no process, no cgroup directory, no host
mount, no temp dir -- after success, a build that fails part-way, timeout,
memory kill, a crash of the code, a daemon left behind, and a SIGKILL of
agentbox itself mid-run.

Processes are found by a unique marker in their command line (the sandbox's
init carries agentbox's own argv; the code also starts a child whose argv has
the marker).  cgroups are found as <parent>/agentbox/abox-<pid>-<hex> under
this process's own cgroup path in each controller.
"""
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from integration_helpers import HostState, groups_of, procs_with, stale_groups, wait_no_procs

SLEEP = 5  # how long left-behind code would live: short, so a failure does not pile up


def marker():
    return "aboxmark" + secrets.token_hex(6)


@pytest.fixture
def tmpdir_env():
    """A private TMPDIR for agentbox: anything it leaves there is a leak."""
    d = tempfile.mkdtemp(prefix="abox-it-tmpdir.", dir="/var/tmp")
    yield d, dict(os.environ, TMPDIR=d)
    shutil.rmtree(d, ignore_errors=True)


def launch(box, env, *args):
    """Start agentbox with its output going to files, not pipes: reading a pipe
    to its end would wait for whatever still holds it open, hiding leftover
    processes until they end by themselves."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = box.popen(*args, env=env, stdout=out, stderr=err)
    p.files = (out, err)
    return p


def finish(proc, timeout=60):
    proc.wait(timeout=timeout)
    texts = []
    for f in proc.files:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return proc.returncode, texts[0], texts[1]


# ---- the kinds of run ------------------------------------------------------
# Each returns (agentbox pid, exit status, stderr) after the run has ended.

def run_success(box, env, mk):
    p = launch(box, env, "run", "--", "/bin/sh", "-c", f": {mk}")
    rc, out, err = finish(p)
    assert rc == 0, err
    return p.pid, rc, err


def run_true(box, env, mk=None):
    p = launch(box, env, "run", "--", "/bin/true")
    rc, out, err = finish(p)
    assert rc == 0, err
    return p.pid, rc, err


def run_timeout(box, env, mk):
    p = launch(box, env, "run", "--timeout", "0.3", "--", "/bin/sh", "-c",
               f"sleep {SLEEP} & sleep {SLEEP}; : {mk}")
    rc, out, err = finish(p)
    assert rc == 124, (rc, err)
    return p.pid, rc, err


def run_oom(box, env, mk):
    p = launch(box, env, "python", "--memory", "32m", "-c",
               f"# {mk}\nx = []\nwhile True:\n    x.append(' ' * 10**6)\n")
    rc, out, err = finish(p)
    assert rc == 137, (rc, err)
    return p.pid, rc, err


def run_crash(box, env, mk):
    p = launch(box, env, "python", "-c", f"import os  # {mk}\nos.abort()\n")
    rc, out, err = finish(p)
    assert rc == 128 + signal.SIGABRT, (rc, err)
    return p.pid, rc, err


def run_daemon(box, env, mk):
    # Double fork + new session: the classic way to escape a process tree.
    code = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execv('/bin/sh', ['/bin/sh', '-c', 'sleep {SLEEP}; : {mk}'])\n"
            "    os._exit(0)\n"
            "time.sleep(0.2)\n"
            "print('parent done')\n")
    p = launch(box, env, "python", "-c", code)
    rc, out, err = finish(p)
    assert rc == 0, (rc, err)
    assert out == b"parent done\n"
    return p.pid, rc, err


def run_shell_daemon(box, env, mk):
    p = launch(box, env, "sh", "-c",
               f"(setsid /bin/sh -c 'sleep {SLEEP}; : {mk}' </dev/null >/dev/null 2>&1 &); echo ok")
    rc, out, err = finish(p)
    assert rc == 0, (rc, err)
    return p.pid, rc, err


def run_sigkilled(box, env, mk):
    code = ("import subprocess, time\n"
            f"subprocess.Popen(['/bin/sh', '-c', 'sleep {SLEEP}; : {mk}'])\n"
            f"time.sleep({SLEEP})\n")
    p = launch(box, env, "python", "-c", code)
    time.sleep(0.5)
    # Make sure the code really is running inside (the child with the marker
    # exists) before the kill, or the test would prove nothing.
    deadline = time.monotonic() + 5
    while not any("sleep" in c for c in procs_with(mk).values()):
        assert p.poll() is None, f"agentbox ended early with {p.returncode}"
        assert time.monotonic() < deadline, "the sandboxed code never started"
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    rc, out, err = finish(p, timeout=10)
    assert rc == -signal.SIGKILL
    return p.pid, rc, err


def run_failed_build(box, env, mk):
    # The child fails part-way through building the root: a file mounted
    # where a later mount needs a directory.  The clone, the namespaces and
    # the cgroup exist by then.
    src = tempfile.mkdtemp(prefix="abox-it-src.")
    try:
        with open(os.path.join(src, "f"), "w") as f:
            f.write("x")
        p = launch(box, env, "run", "--mount", f"{src}/f:/workspace/a", "--mount",
                   f"{src}:/workspace/a/b", "--", "/bin/sh", "-c", f": {mk}")
        rc, out, err = finish(p)
    finally:
        shutil.rmtree(src)
    assert rc == 125, (rc, err)
    assert b"cannot build the sandbox: mount /workspace/a/b: Not a directory" in err, err
    return p.pid, rc, err


KINDS = {
    "success": run_success,
    "failed-build": run_failed_build,
    "timeout": run_timeout,
    "oom": run_oom,
    "crash": run_crash,
    "daemon": run_daemon,
    "shell-daemon": run_shell_daemon,
    "sigkill": run_sigkilled,
}


def sweep_run(box, env):
    """One more agentbox run: it sweeps groups left by dead agentbox processes."""
    run_true(box, env)


def leftovers(box, env, pid, mk, killed):
    """Describe what is left of run `pid` (empty list: nothing)."""
    found = []
    procs = wait_no_procs(mk, wait=1.5)
    if procs:
        found.append(f"processes still alive: {procs}")
    if killed:
        sweep_run(box, env)
    groups = groups_of([pid])
    if groups:
        found.append(f"cgroup directories left: {[g for g, _ in groups]}")
    return found


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(KINDS))
def test_nothing_left_after(box, tmpdir_env, kind):
    tdir, env = tmpdir_env
    before = HostState()
    mk = marker()
    pid, rc, err = KINDS[kind](box, env, mk)
    problems = leftovers(box, env, pid, mk, killed=(kind == "sigkill"))
    assert not problems, f"after a {kind} run: " + "; ".join(problems)
    stale = stale_groups()
    assert not stale, f"cgroup directories of dead agentbox processes: {stale}"
    before.assert_unchanged()
    assert os.listdir(tdir) == [], f"left in TMPDIR: {os.listdir(tdir)}"


@pytest.mark.timeout(150)
def test_nothing_left_after_hundreds_of_runs(box, tmpdir_env):
    """200 quick runs plus 30 of each failure kind; everything is checked after
    every run, failures are collected and reported together."""
    tdir, env = tmpdir_env
    before = HostState()
    problems = {}
    pids = []

    def note(kind, what):
        problems.setdefault(kind, []).append(what)

    t0 = time.monotonic()
    for i in range(200):
        pid, _, _ = run_true(box, env)
        pids.append(pid)
        if groups_of([pid]):
            note("true", f"run {i}: cgroup left {groups_of([pid])}")

    for i in range(30):
        for kind, fn in KINDS.items():
            if kind == "success":
                continue
            if len(problems.get(kind, [])) >= 3:
                continue  # known bad: stop piling up live leftovers (and time)
            mk = marker()
            try:
                pid, rc, err = fn(box, env, mk)
            except AssertionError as e:
                note(kind, f"run {i}: unexpected outcome: {e}")
                continue
            pids.append(pid)
            left = leftovers(box, env, pid, mk, killed=(kind == "sigkill"))
            if left:
                note(kind, f"run {i}: " + "; ".join(left))

    sweep_run(box, env)
    left_groups = groups_of(pids)
    if left_groups:
        note("final", f"{len(left_groups)} cgroup directories of these runs remain: {left_groups[:5]}")
    stale = stale_groups()
    if stale:
        note("final", f"cgroup directories of dead agentbox processes: {stale[:5]}")
    try:
        before.assert_unchanged()
    except AssertionError as e:
        note("final", str(e))
    if os.listdir(tdir):
        note("final", f"left in TMPDIR: {os.listdir(tdir)[:10]}")
    elapsed = time.monotonic() - t0

    summary = "\n".join(f"{k}: {len(v)} problem(s){' (then stopped)' if len(v) >= 3 else ''}, "
                        f"e.g. {v[0]}" for k, v in problems.items())
    assert not problems, f"after {len(pids)} runs in {elapsed:.0f}s:\n{summary}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kill", [False, True], ids=["daemon-left-behind", "agentbox-sigkilled"])
def test_output_pipes_reach_eof_when_agentbox_ends(box, kill):
    """A caller that reads agentbox's stdout through a pipe (as every front end
    does) must see EOF as soon as agentbox is gone, not when some process of
    the sandbox that still holds the pipe finally exits."""
    mk = marker()
    code = ("import subprocess, time\n"
            f"subprocess.Popen(['/bin/sh', '-c', 'sleep {SLEEP}; : {mk}'], start_new_session=True)\n"
            + (f"time.sleep({SLEEP})\n" if kill else "print('done')\n"))
    p = box.popen("python", "-c", code)
    if kill:
        time.sleep(0.5)
        deadline = time.monotonic() + 5
        while not any("sleep" in c for c in procs_with(mk).values()):
            assert time.monotonic() < deadline, "the sandboxed code never started"
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=30)
    waited = time.monotonic() - t0
    assert waited < 2.0, f"stdout/stderr stayed open {waited:.1f}s after agentbox ended"
    assert not wait_no_procs(mk, wait=3.0)
