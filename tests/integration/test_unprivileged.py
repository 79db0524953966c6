"""agentbox as an ordinary user (nobody): user namespaces work without root; the
cgroup v1 hierarchy is not writable for nobody, so cgroups must be explicitly
degraded, and without that agentbox refuses and names what is missing."""
import json
import os
import re
import stat
import subprocess

import pytest

NOBODY = 65534


def _nobody_can_exec(path):
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                           "test", "-x", path], capture_output=True).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def nobody_can_run_the_binary(box):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    if _nobody_can_exec(box.path):
        return
    # Only if needed: let others traverse the directories and run the binary.
    p = os.path.dirname(os.path.realpath(box.path))
    while p != "/":
        mode = os.stat(p).st_mode
        if mode & (stat.S_IXOTH | stat.S_IROTH) != (stat.S_IXOTH | stat.S_IROTH):
            os.chmod(p, stat.S_IMODE(mode) | stat.S_IXOTH | stat.S_IROTH)
        p = os.path.dirname(p)
    mode = os.stat(box.path).st_mode
    os.chmod(box.path, stat.S_IMODE(mode) | stat.S_IXOTH | stat.S_IROTH)
    assert _nobody_can_exec(box.path), f"nobody still cannot execute {box.path}"


def test_runs_as_nobody_with_cgroups_degraded(box):
    p = box.run("run", "--allow-degraded", "cgroup", "--", "/bin/echo", "hi", user=NOBODY)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"hi\n"


def test_nobody_result_is_honest_about_protections(box):
    r = box.json("run", "--allow-degraded", "cgroup", "--", "/bin/echo", "hi", user=NOBODY)
    assert r["_exit"] == 0 and r["status"] == "success", r
    prot = set(r["protections"])
    for name in ("userns", "pidns", "netns", "seccomp"):
        assert name in prot, prot
    # The cgroups it could not use must not be claimed.
    assert not any(re.fullmatch(r"cgroup[12]?:memory", p) for p in prot), prot


def test_python_and_sh_as_nobody(box):
    p = box.run("python", "--allow-degraded", "cgroup", "-c", "import os\nprint(os.getcwd())",
                user=NOBODY)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"/workspace\n"
    p = box.run("sh", "--allow-degraded", "cgroup", "-c", "echo a | tr a b; exit 4", user=NOBODY)
    assert p.returncode == 4 and p.stdout == b"b\n", p.stderr


def test_nobody_sandbox_talks_to_itself_over_loopback(box):
    # As root, the supervisor brings the sandbox's loopback up from outside;
    # nobody may not enter that network namespace, and the child does it.
    code = ("import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "c = socket.create_connection(s.getsockname()); a, _ = s.accept()\n"
            "c.sendall(b'ping'); print(a.recv(4).decode())")
    for user in (NOBODY, None):
        p = box.run("python", "--allow-degraded", "cgroup", "-c", code, user=user)
        assert p.returncode == 0, (user, p.stderr)
        assert p.stdout == b"ping\n", (user, p.stdout)


def test_nobody_without_degrade_is_refused(box):
    p = box.run("run", "--", "/bin/echo", "hi", user=NOBODY)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == b"", "the program must not have run"
    err = p.stderr.decode()
    assert re.search(r"cgroup[12]?:(memory|pids)", err), f"missing protection not named: {err!r}"
    assert "Traceback" not in err


def test_nobody_without_degrade_json(box):
    r = box.json("run", "--", "/bin/echo", "hi", user=NOBODY)
    assert r["_exit"] == 125
    assert r["status"] == "sandbox_error"
    assert re.search(r"cgroup[12]?:(memory|pids)", r["message"] or ""), r


def test_nobody_timeout_still_enforced(box):
    p = box.run("run", "--allow-degraded", "cgroup", "--timeout", "1", "--", "/bin/sleep", "10",
                user=NOBODY, timeout=30)
    assert p.returncode == 124


def test_session_cpu_budget_without_a_cgroup_counter_is_refused(box):
    # A session counts each execution's CPU from the cgroup; with cgroups
    # degraded there is no counter, and the budget would silently not apply.
    p = box.run("repl", "--json", "--allow-degraded", "cgroup", "--cpu-time", "1",
                input=b"while True: pass\n", user=NOBODY, timeout=60)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert b"cpu_time_limit in a session needs the cgroup's CPU counter" in p.stderr, p.stderr
    # Without the budget the same session runs.
    p = box.run("repl", "--json", "--allow-degraded", "cgroup", input=b"6 * 7\n", user=NOBODY,
                timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["value"] == "42"
