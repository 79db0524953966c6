"""Where the host refuses executable memfds (vm.memfd_noexec=2 in agentbox's
own pid namespace), agentbox-init cannot run from its sealed memfd: the
sandbox's setup process stays pid 1 itself, runs stay correct, and the result
does not claim the sealed_init protection.

The refusal is set for real, in a pid namespace this test creates, so the
host's own setting is untouched."""
import json
import os
import secrets
import subprocess

import pytest


def _unique_sleep():
    return f"{300 + secrets.randbelow(100)}.{secrets.randbelow(10**9):09d}3"


def _host_processes_with(marker):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read() and int(entry) != os.getpid():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def run_in_noexec_pidns(box, *args):
    script = 'echo 2 > /proc/sys/vm/memfd_noexec && exec "$@"'
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh",
                        box.path, *args], capture_output=True, timeout=60)
    return p.returncode, json.loads(p.stdout)


def test_sealed_init_is_listed_when_the_host_allows_it(box):
    doc = box.json("sh", "-c", "echo hi")
    assert doc["status"] == "success"
    assert "sealed_init" in doc["protections"]


def test_without_executable_memfds_runs_are_refused_unless_degraded(box):
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                        'echo 2 > /proc/sys/vm/memfd_noexec && exec "$@"', "sh",
                        box.path, "python", "-c", "print(1)"], capture_output=True, timeout=60)
    assert p.returncode == 125, p
    assert p.stdout == b""
    assert b"required protection 'sealed_init' is not available" in p.stderr, p.stderr
    assert b"allow_degraded" in p.stderr


@pytest.mark.parametrize("code, want", [
    ("print(6 * 7)", ("success", 0, None, "42\n")),
    ("import os; os.abort()", ("error", None, "SIGABRT", "")),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", ("error", None, "SIGTERM", "")),
])
def test_without_executable_memfds_pid_1_stays_agentbox_and_runs_are_unchanged(box, code, want):
    rc, doc = run_in_noexec_pidns(box, "python", "--json", "--allow-degraded", "sealed_init",
                                  "-c", code)
    assert (doc["status"], doc["exit_code"], doc["signal"], doc["stdout"]) == want, doc
    assert "sealed_init" not in doc["protections"], doc["protections"]
    assert "seccomp" in doc["protections"]


def test_without_executable_memfds_leftover_daemons_are_still_killed(box):
    mark = _unique_sleep()
    rc, doc = run_in_noexec_pidns(
        box, "sh", "--json", "--allow-degraded", "sealed_init", "-c",
        f"(setsid sleep {mark} &) ; sleep 0.1; grep -l {mark} /proc/[0-9]*/cmdline | wc -l")
    assert (rc, doc["status"], doc["exit_code"]) == (0, "success", 0), doc
    # The daemon was running inside (sh and grep carry the mark too)...
    assert int(doc["stdout"]) >= 3, doc
    assert "sealed_init" not in doc["protections"]
    # ...and nothing of it is left on the host once the run returned.
    assert _host_processes_with(mark) == []
