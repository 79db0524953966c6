"""Differential test of the shell parser (src/core/shell_parse.c) against the
real shell.

For each command line below, two sets of command names are compared:

* ours: what `agentbox sh` refuses when allowed_commands holds only a
  sentinel — every command word the parser finds becomes a violation
  (src/core/command_policy.c), so the violation targets are the parser's
  command words;
* dash's: what /bin/sh (dash) really executes, run on the host under an
  empty environment whose PATH is a directory of stub scripts c1..c9, each of
  which appends its own name to a log and does nothing else.  The lines name
  only stubs and shell builtins, so nothing else can run.

dash's set must be a subset of ours for every line: the parser may report
more (both branches of an if, a loop body that never runs), never fewer — a
name dash runs that the parser misses is an allowlist bypass.  Each line also
states exactly which stubs dash runs, so the harness checks itself.
"""
import json
import os
import select
import subprocess
import time

import pytest

SHELL = "/bin/sh"
STUBS = [f"c{i}" for i in range(1, 10)]
SENTINEL = "nonexistent_sentinel"

# (command line, the stubs dash executes)
LINES = [
    # simple commands, lists, pipelines
    ("c1", {"c1"}),
    ("c1; c2", {"c1", "c2"}),
    ("c1 && c2 || c3", {"c1", "c2"}),
    ("false && c1 || c2", {"c2"}),
    ("c1 | c2 | c3", {"c1", "c2", "c3"}),
    ("c1 & c2; wait", {"c1", "c2"}),
    ("! c1", {"c1"}),
    ("c1 |\nc2", {"c1", "c2"}),
    ("c1 &&\n\nc2", {"c1", "c2"}),
    ("c1&&c2;c3", {"c1", "c2", "c3"}),
    # quoting
    ("c''1", {"c1"}),
    ('"c"1', {"c1"}),
    ("\\c1", {"c1"}),
    ("'c1' arg", {"c1"}),
    # assignments and redirections
    ("X=1 c1", {"c1"}),
    ("X=1 Y=2 c1 arg", {"c1"}),
    ("x=$(c1) c2", {"c1", "c2"}),
    ("x=$(c1)", {"c1"}),
    (">out c1 2>&1", {"c1"}),
    ("3>x c1", {"c1"}),
    ("c1 </dev/null >>log 2>/dev/null", {"c1"}),
    ("c1 2>&1 >/dev/null | c2", {"c1", "c2"}),
    # subshells and groups
    ("( c1; c2 )", {"c1", "c2"}),
    ("(c1) | (c2)", {"c1", "c2"}),
    ("{ c1; c2; }", {"c1", "c2"}),
    ("{ c1; } >/dev/null 2>&1", {"c1"}),
    # substitutions
    ("echo $(c1)", {"c1"}),
    ("echo $(c1 $(c2 $(c3)))", {"c1", "c2", "c3"}),
    ("echo `c1`", {"c1"}),
    ("echo `c1 \\`c2\\``", {"c1", "c2"}),
    ("echo $(( 1 + $(c1; echo 2) ))", {"c1"}),
    ("echo ${x:-$(c1)}", {"c1"}),
    ("x=set; echo ${x:-$(c1)}; c2", {"c2"}),
    ('echo "$(c1 ")")"', {"c1"}),
    ("echo '$(c2)' \"$(c1)\"", {"c1"}),
    ("echo $(\nc1\n)", {"c1"}),
    ("echo $(c1 # )\n)", {"c1"}),
    ("echo $(case x in x) c1;; esac)", {"c1"}),
    # here-documents
    ("c1 <<EOF\n$(c2)\nEOF", {"c1", "c2"}),
    ("c1 <<EOF\n`c2`\nEOF\nc3", {"c1", "c2", "c3"}),
    ("c1 <<'EOF'\n$(c2)\nEOF\nc3", {"c1", "c3"}),
    ('c1 <<"EOF"\n$(c2)\nEOF\nc3', {"c1", "c3"}),
    ("c1 <<-EOF\n\t$(c2)\n\tEOF\nc3", {"c1", "c2", "c3"}),
    ("c1 <<A <<'B'\n$(c2)\nA\n$(c3)\nB\nc4", {"c1", "c2", "c4"}),
    ("c1 <<EOF; c2\n$(c3)\nEOF", {"c1", "c2", "c3"}),
    # compound commands
    ("if c1; then c2; elif c3; then c4; else c5; fi", {"c1", "c2"}),
    ("if false; then c1; elif c2; then c3; else c4; fi", {"c2", "c3"}),
    ("if c1\nthen\n  c2\nfi", {"c1", "c2"}),
    ("while c1; do break; done", {"c1"}),
    ("until c1; do c2; done", {"c1"}),
    ("for x in $(c1) a b; do c2; done", {"c1", "c2"}),
    ("for x\ndo c1; done; c2", {"c2"}),
    ("case x in (a|b) c1;; x) c2;; esac", {"c2"}),
    ("case $(c1) in *) c2 ;; esac", {"c1", "c2"}),
    ("c1 | while read x; do c2; done", {"c1"}),
    ("test 1 = 1 && c1 || c2", {"c1"}),
    # comments and continuations
    ("c1 # c2", {"c1"}),
    ("c1 # x \\\nc2", {"c1", "c2"}),
    ("c\\\n1 \\\n&& c2", {"c1", "c2"}),
    # wrappers and eval
    ("exec c1", {"c1"}),
    ("command c1", {"c1"}),
    ("eval c1", {"c1"}),
    ("eval 'c1; c2'", {"c1", "c2"}),
    # found by this test: each of these is missed by the parser
    ('X="1" c1', {"c1"}),
    ("X='a b' c1", {"c1"}),
    ("command command c1", {"c1"}),
    ('"command" c1', {"c1"}),
    ("eval >/dev/null c1", {"c1"}),
    ("command eval c1", {"c1"}),
    ('c1 <<"$X"\n$X\nc2', {"c1", "c2"}),
    ("echo \"${x:-'}\" ; c1 ; echo \"'}\"", {"c1"}),
    ("echo \"`c1 \\\"'\\\"; c2; : \\\"'\\\"`\"", {"c1", "c2"}),
    ("trap c1 EXIT", {"c1"}),
    ("PS4=':'; X='a' c1", {"c1"}),
]


@pytest.fixture(scope="module")
def stubdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("stubs")
    log = d / "log"
    for name in STUBS:
        stub = d / name
        stub.write_text(f"#!/bin/sh\necho {name} >> '{log}'\n")
        stub.chmod(0o755)
    return d


def dash_runs(stubdir, line):
    """The stubs dash executes for line.  A pipe's write end is passed down
    so that waiting for its EOF waits for background stubs too."""
    log = stubdir / "log"
    log.write_text("")
    r, w = os.pipe()
    try:
        proc = subprocess.Popen([SHELL, "-c", line], env={"PATH": str(stubdir)},
                                cwd=stubdir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=(w,))
    finally:
        os.close(w)
    try:
        deadline = time.monotonic() + 5
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"dash did not finish: {line!r}"
            ready, _, _ = select.select([r], [], [], left)
            if ready and not os.read(r, 4096):
                break
        proc.wait(timeout=5)
    finally:
        os.close(r)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return set(log.read_text().split())


def parser_finds(box, line):
    doc = box.json("sh", "--allow-command", SENTINEL, "-c", line)
    assert doc["status"] == "blocked", f"not blocked ({doc['status']}): {line!r} {doc}"
    violations = doc["violations"]
    assert violations, f"blocked without violations: {line!r}"
    for v in violations:
        assert v["rule"] == "command", v
        assert v["target"] != "(command line)", \
            f"the parser refused a valid line: {line!r}: {v['detail']}"
        assert "built from an expansion" not in v["detail"], \
            f"the line has a command word built from an expansion: {line!r}: {v}"
    return {v["target"] for v in violations}


def test_line_list_is_sane():
    assert 55 <= len(LINES) <= 90
    assert len({line for line, _ in LINES}) == len(LINES), "duplicate lines"
    for line, want in LINES:
        assert want <= set(STUBS), line


def test_stubs_log_and_nothing_else_runs(stubdir):
    assert dash_runs(stubdir, "c1; c2 &\nc3 | c9") == {"c1", "c2", "c3", "c9"}
    assert dash_runs(stubdir, "ls; cat /etc/passwd; c4") == {"c4"}, \
        "only stubs are on PATH"
    assert dash_runs(stubdir, "true") == set()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("line,want", LINES, ids=[f"{i:02d}" for i in range(len(LINES))])
def test_parser_finds_what_dash_runs(box, stubdir, line, want):
    ran = dash_runs(stubdir, line)
    assert ran == want, f"harness: dash ran {sorted(ran)} for {line!r}, the list says {sorted(want)}"
    ours = parser_finds(box, line)
    missed = ran - ours
    assert not missed, (f"dash runs {sorted(missed)} which the parser does not report: "
                        f"{line!r} (parser: {sorted(ours)}, dash: {sorted(ran)})")
