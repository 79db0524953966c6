"""agentbox repl: one session driven through a pipe, cells separated by %%."""
import json
import os
import tempfile

import pytest

T = 120


def cells(*texts):
    return "\n%%\n".join(texts).encode() + b"\n"


def results(p):
    lines = [ln for ln in p.stdout.decode().splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]


def test_the_issue_example(box):
    p = box.run("repl", "--json", input=b"x = 41\n%%\nx + 1\n", timeout=T)
    assert p.returncode == 0, p.stderr
    first, second = results(p)
    assert first["status"] == "success" and first["value"] is None
    assert second["status"] == "success" and second["value"] == "42"
    assert second["state_lost"] is False


def test_text_mode_shows_values_like_the_cli(box):
    p = box.run("repl", input=cells("y = 6", "y * 7", "print('hi')"), timeout=T)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == "Out: 42\nhi\n"


def test_shell_cells_share_the_workspace_with_python(box):
    p = box.run("repl", "--json",
                input=cells("open('note.txt', 'w').write('from python')",
                            "!cat note.txt; echo ' and shell' >> note.txt",
                            "open('note.txt').read()"), timeout=T)
    r = results(p)
    assert r[1]["stdout"] == "from python"
    assert r[2]["value"] == repr("from python and shell\n")


def test_shell_mode(box):
    p = box.run("repl", "--shell", "--json", input=cells("X=1; echo $X > f", "cat f"), timeout=T)
    r = results(p)
    assert [x["stdout"] for x in r] == ["", "1\n"]


def test_errors_keep_the_session_and_the_exit_status_is_the_last_cells(box):
    p = box.run("repl", "--json", input=cells("z = 1", "1/0", "z"), timeout=T)
    r = results(p)
    assert r[1]["status"] == "error" and r[1]["error"]["type"] == "ZeroDivisionError"
    assert r[2]["value"] == "1"
    assert p.returncode == 0
    p = box.run("repl", "--json", input=cells("z = 1", "1/0"), timeout=T)
    assert p.returncode == 1


def test_timeout_interrupts_and_the_session_goes_on(box):
    p = box.run("repl", "--json", "--timeout", "1",
                input=cells("import time; k = 3", "time.sleep(30)", "k"), timeout=T)
    r = results(p)
    assert r[1]["status"] == "timeout" and r[1]["state_lost"] is False
    assert r[1]["error"]["type"] == "KeyboardInterrupt"
    assert r[2]["value"] == "3"


def test_a_policy_refusal_in_a_cell(box):
    p = box.run("repl", "--json", "--deny-module", "socket",
                input=cells("import socket", "2 + 2"), timeout=T)
    r = results(p)
    assert r[0]["status"] == "blocked"
    assert r[0]["violations"][0]["target"] == "socket"
    assert r[1]["value"] == "4"


def test_empty_input_runs_nothing(box):
    p = box.run("repl", "--json", input=b"", timeout=T)
    assert p.returncode == 0 and p.stdout == b""
    p = box.run("repl", "--json", input=b"%%\n\n%%\n", timeout=T)
    assert p.returncode == 0 and p.stdout == b""


@pytest.mark.parametrize("args,pattern", [
    (["repl", "extra"], "standard input"),
    (["repl", "-c", "1"], "-c"),
    (["repl", "--bogus"], "--bogus"),
    (["repl", "--memory", "lots"], "lots"),
])
def test_bad_arguments(box, args, pattern):
    p = box.run(*args, input=b"1\n", timeout=T)
    assert p.returncode == 125, p.stderr
    assert pattern in p.stderr.decode()


def test_audit_names_the_session(box):
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "audit.jsonl")
        p = box.run("repl", "--json", "--audit-log", log, input=cells("1", "!true"), timeout=T)
        assert p.returncode == 0, p.stderr
        events = [json.loads(ln) for ln in open(log)]
    kinds = [e["event"] for e in events]
    assert kinds == ["session_start", "exec", "exec", "session_end"], kinds
    sid = events[0]["session"]
    assert len(sid) == 32 and all(e["session"] == sid for e in events)
    assert [e.get("language") for e in events[1:3]] == ["python", "shell"]
    assert events[-1]["reason"] == "destroyed"


def test_the_builtins_site_gives_are_there(box):
    # The session kernel starts without site.py (a lean site instead):
    # help() and friends must still be there, as in any Python.
    p = box.run("repl", "--json",
                input=cells("help(len)", "repr(copyright)[:9], callable(exit), str(license)[:3]"),
                timeout=T)
    helped, names = results(p)
    assert helped["status"] == "success", helped["stderr"]
    assert "len(obj, /)" in helped["stdout"]
    assert names["value"] == "('Copyright', True, 'Typ')", names  # as site has it


def test_on_a_terminal_it_prompts_and_takes_multi_line_cells(box):
    # A real pseudo-terminal: the prompt, continuation lines while a bracket
    # is open, the empty line that ends the cell, and results shown as the
    # CLI shows them.
    import pty
    import select
    import subprocess
    import time
    main, sub = pty.openpty()
    p = subprocess.Popen([box.path, "repl"], stdin=sub, stdout=sub, stderr=sub, close_fds=True)
    os.close(sub)
    seen = b""

    def until(needle, times=1, timeout=60):
        # Waits for the n-th appearance: the terminal echoes input at once,
        # so only counting prompts tells that the repl is ready for more.
        nonlocal seen
        deadline = time.monotonic() + timeout
        while seen.count(needle) < times:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {needle!r}: {seen!r}"
            if select.select([main], [], [], left)[0]:
                try:
                    seen += os.read(main, 4096)
                except OSError:
                    break
        assert seen.count(needle) >= times, f"never saw {needle!r} {times}x: {seen!r}"
        return seen

    try:
        until(b">>> ")
        os.write(main, b"x = (1,\n")
        until(b"... ")
        os.write(main, b"2)\n")
        until(b"... ", 2)
        os.write(main, b"\n")
        until(b">>> ", 2)
        os.write(main, b"x\n")
        until(b"Out: (1, 2)")
        until(b">>> ", 3)
        os.write(main, b"\x04")  # EOF ends the session
        assert p.wait(timeout=60) == 0
    finally:
        os.close(main)
        if p.poll() is None:
            p.kill()


def test_help_names_the_cell_separator(box):
    p = box.run("--help")
    assert b"lines holding only %%, each" in p.stdout + p.stderr
