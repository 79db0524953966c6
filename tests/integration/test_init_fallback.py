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


def run_in_noexec_pidns(box, *args):
    script = 'echo 2 > /proc/sys/vm/memfd_noexec && exec "$@"'
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh",
                        box.path, *args], capture_output=True, timeout=60)
    return p.returncode, json.loads(p.stdout)


@pytest.mark.parametrize("args, status", [
    (["-c", "echo hi"], "success"),
    # Killed before init can report the end: it said it runs when it started.
    (["--timeout", "1", "-c", "sleep 5"], "timeout"),
    (["--cpu-time", "1", "-c", "while :; do :; done"], "resource_exceeded"),
])
def test_sealed_init_is_listed_when_the_host_allows_it(box, args, status):
    doc = box.json("sh", *args)
    assert doc["status"] == status, doc
    assert "sealed_init" in doc["protections"], doc["protections"]


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


def test_without_executable_memfds_leftover_daemons_are_still_killed(box, tmp_path):
    mark = _unique_sleep()
    (tmp_path / "pattern").write_text(mark + "\n")
    # The wrapper's sh stays its pid namespace's pid 1 (no exec), so what
    # agentbox leaves behind would still be alive when it looks: after
    # agentbox returns it lists the processes carrying the mark, itself
    # (pid 1, whose arguments hold the mark) left out.  grep reads the mark
    # from a file and runs alone (no pipeline, whose other members would be
    # forks of sh carrying the mark while grep looks).
    script = ('echo 2 > /proc/sys/vm/memfd_noexec; "$@" > "$OUT"; echo $? > "$RC"; '
              'grep -l -F -f "$PAT" /proc/[0-9]*/cmdline > "$LEFT" 2>/dev/null; true')
    env = dict(os.environ, OUT=str(tmp_path / "out"), RC=str(tmp_path / "rc"),
               LEFT=str(tmp_path / "left"), PAT=str(tmp_path / "pattern"))
    subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh",
                    box.path, "sh", "--json", "--allow-degraded", "sealed_init", "-c",
                    f"(setsid sleep {mark} &); n=0; for i in $(seq 100); do "
                    "n=$(for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | "
                    f"grep -c -x 'sleep {mark} '); [ $n -ge 1 ] && break; sleep 0.05; done; "
                    "echo $n"], env=env, capture_output=True, timeout=60, check=True)
    doc = json.loads((tmp_path / "out").read_text())
    assert (int((tmp_path / "rc").read_text()), doc["status"], doc["exit_code"]) == \
        (0, "success", 0), doc
    # The daemon was running inside: one process whose whole command line
    # is `sleep <mark>` (sh, grep and pid 1 carry the mark in longer ones)...
    assert int(doc["stdout"]) == 1, doc
    assert "sealed_init" not in doc["protections"]
    # ...and nothing of it is left once the run returned.
    left = (tmp_path / "left").read_text().split()
    assert left == ["/proc/1/cmdline"], left
