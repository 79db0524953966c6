"""Bad input: exit 125, one clear message on stderr, a sandbox_error JSON object
with --json, no traceback or crash text, and never a hang."""
import json
import re

import pytest

from integration_helpers import assert_no_crash_text

T = 20  # seconds: a bad-input run that takes longer is a hang

# (id, argv without --json, index at which --json is inserted or None, stderr regex)
CASES = [
    ("unknown-flag", ["python", "--bogus", "-c", "1"], 1, r"--bogus"),
    ("unknown-flag-run", ["run", "--frobnicate", "--", "/bin/true"], 1, r"--frobnicate"),
    ("unknown-subcommand", ["frobnicate"], 1, r"frobnicate"),
    ("missing-c-argument", ["python", "-c"], 1, r"-c"),
    ("missing-c-argument-sh", ["sh", "-c"], 1, r"-c"),
    ("no-code-at-all", ["python"], 1, r"-c|FILE|stdin|-"),
    ("both-c-and-file", ["python", "-c", "1", "/etc/hostname"], 1, r"both|either|not both"),
    ("missing-file", ["python", "/does/not/exist.py"], 1, r"/does/not/exist\.py"),
    ("missing-file-sh", ["sh", "/does/not/exist.sh"], 1, r"/does/not/exist\.sh"),
    ("run-without-program", ["run"], 1, r"program|PROGRAM"),
    ("size-bad-suffix", ["run", "--memory", "256q", "--", "/bin/true"], 1, r"256q"),
    ("size-negative", ["run", "--memory", "-1", "--", "/bin/true"], 1, r"-1"),
    ("size-zero", ["run", "--memory", "0", "--", "/bin/true"], 1,
     r"memory_limit: '0' is out of range"),
    ("output-size-negative", ["run", "--output-limit", "-1", "--", "/bin/true"], 1, r"-1"),
    ("file-size-bad", ["run", "--file-size", "256q", "--", "/bin/true"], 1, r"256q"),
    ("timeout-zero", ["run", "--timeout", "0", "--", "/bin/true"], 1,
     r"execution_timeout: '0' is out of range"),
    ("timeout-negative", ["run", "--timeout", "-1", "--", "/bin/true"], 1,
     r"execution_timeout: '-1' is not seconds"),
    ("timeout-word", ["run", "--timeout", "soon", "--", "/bin/true"], 1, r"soon"),
    ("timeout-nan", ["run", "--timeout", "nan", "--", "/bin/true"], 1, r"nan"),
    ("timeout-missing-value", ["run", "--timeout"], 1, r"--timeout"),
    ("config-missing-value", ["check", "--config"], 1, r"--config"),
    ("mount-missing-value", ["run", "--mount"], 1, r"--mount"),
    ("pids-zero", ["run", "--pids", "0", "--", "/bin/true"], 1, r"pids_limit: '0' is out of range"),
    ("mount-missing-source", ["run", "--mount", "/does/not/exist:/data", "--", "/bin/true"], 1,
     r"/does/not/exist"),
    ("mount-into-proc", ["run", "--mount", "/tmp:/proc/x", "--", "/bin/true"], 1, r"/proc/x"),
    # The host's kernel interfaces are never a source: /proc would show its processes.
    ("mount-host-proc", ["run", "--mount", "/proc:/x", "--", "/bin/true"], 1,
     r"mount source '/proc' is on the host's procfs"),
    ("mount-host-sys", ["run", "--mount", "/sys/kernel:/x", "--", "/bin/true"], 1,
     r"mount source '/sys/kernel' is on the host's sysfs"),
    ("mount-host-pid-dir", ["run", "--mount", "/proc/1:/x", "--", "/bin/true"], 1,
     r"mount source '/proc/1' is on the host's procfs"),
    ("mount-relative-target", ["run", "--mount", "/tmp:data", "--", "/bin/true"], 1, r"data"),
    ("mount-no-target", ["run", "--mount", "/tmp", "--", "/bin/true"], 1, r"/tmp"),
    ("mount-over-usr", ["run", "--mount", "/tmp:/usr/bin", "--", "/bin/true"], 1, r"/usr"),
    ("env-without-equals", ["run", "--env", "NOEQUALS", "--", "/bin/true"], 1, r"NOEQUALS"),
    ("allow-domain-bad", ["run", "--network", "restricted", "--allow-domain", "*.com", "--",
                          "/bin/true"], 1, r"\*\.com"),
    ("network-bogus", ["run", "--network", "bogus", "--", "/bin/true"], 1, r"bogus"),
    ("check-unknown-flag", ["check", "--bogus"], 1, r"--bogus"),
    ("config-missing", ["check", "--config", "/does/not/exist.yaml"], 1, r"/does/not/exist\.yaml"),
]


def _check_message(p, pattern):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.decode("utf-8", "replace")
    assert err.strip(), "no message on stderr"
    assert len(err) < 4000, f"message is not short: {err!r}"
    assert re.search(pattern, err), f"message does not name the problem ({pattern}): {err!r}"
    assert_no_crash_text(err)


@pytest.mark.parametrize("argv,at,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_plain(box, argv, at, pattern):
    p = box.run(*argv, input=b"", timeout=T)
    _check_message(p, pattern)


@pytest.mark.parametrize("argv,at,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_json(box, argv, at, pattern):
    args = list(argv)
    args.insert(at, "--json")
    p = box.run(*args, input=b"", timeout=T)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"--json: no JSON object on stdout: {p.stdout!r} (stderr {p.stderr!r})")
    assert isinstance(doc, dict)
    assert doc.get("status") == "sandbox_error", doc
    msg = doc.get("message") or ""
    assert msg.strip(), f"sandbox_error without a message: {doc}"
    assert re.search(pattern, msg), msg
    assert_no_crash_text(msg)


@pytest.mark.parametrize("sub", ["serve", "mcp"])
def test_not_yet_available_subcommands(box, sub):
    p = box.run(sub, input=b"", timeout=T)
    _check_message(p, sub)


def test_serve_with_arguments_is_still_refused(box):
    p = box.run("serve", "--listen", "127.0.0.1:0", input=b"", timeout=T)
    _check_message(p, "serve")


def test_no_arguments_at_all(box):
    p = box.run(input=b"", timeout=T)
    assert p.returncode == 125
    assert p.stderr.strip()
    assert_no_crash_text(p.stderr)


def test_bad_flag_value_does_not_run_the_program(box, tmp_path):
    marker = tmp_path / "ran"
    tmp_path.chmod(0o777)
    p = box.run("sh", "--mount", f"{tmp_path}:/data:rw", "--memory", "256q", "-c",
                "touch /data/ran", timeout=T)
    assert p.returncode == 125
    assert not marker.exists()


# ---- policy files --------------------------------------------------------

def _policy(tmp_path, text, name="policy.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def _assert_names(err, path, line, keypath):
    """The message names the file, the line and the key path."""
    assert path.name in err, f"file not named: {err!r}"
    assert re.search(rf"(:{line}\b|line {line}\b)", err), f"line {line} not named: {err!r}"
    assert keypath in err, f"key path {keypath!r} not named: {err!r}"


POLICY_ERRORS = [
    ("unknown-key",
     "agent_sandbox:\n  security_policy:\n    memory_limit: 256m\n    bogus_key: 1\n",
     4, "agent_sandbox.security_policy.bogus_key"),
    ("unknown-key-nested-top",
     "agent_sandbox:\n  backend: jail\n  colour: blue\n",
     3, "agent_sandbox.colour"),
    ("wrong-type-list-for-size",
     "agent_sandbox:\n  security_policy:\n    memory_limit: [1, 2]\n",
     3, "agent_sandbox.security_policy.memory_limit"),
    ("wrong-type-string-for-list",
     "agent_sandbox:\n  security_policy:\n    allowed_commands: ls\n",
     3, "agent_sandbox.security_policy.allowed_commands"),
    ("wrong-type-word-for-seconds",
     "agent_sandbox:\n  security_policy:\n    execution_timeout: soon\n",
     3, "agent_sandbox.security_policy.execution_timeout"),
    ("wrong-type-word-for-cpus",
     "agent_sandbox:\n  security_policy:\n    cpu_limit: many\n",
     3, "agent_sandbox.security_policy.cpu_limit"),
    ("wrong-type-scalar-for-section",
     "agent_sandbox:\n  security_policy: 5\n",
     2, "agent_sandbox.security_policy"),
    ("impossible-size",
     "agent_sandbox:\n  security_policy:\n    memory_limit: 256q\n",
     3, "agent_sandbox.security_policy.memory_limit"),
    ("impossible-mode",
     "agent_sandbox:\n  security_policy:\n    mode: greylist\n",
     3, "agent_sandbox.security_policy.mode"),
    ("bad-backend",
     "agent_sandbox:\n  backend: vm\n",
     2, "agent_sandbox.backend"),
]


@pytest.mark.parametrize("text,line,keypath", [c[1:] for c in POLICY_ERRORS],
                         ids=[c[0] for c in POLICY_ERRORS])
@pytest.mark.parametrize("sub", ["check", "python"])
def test_policy_error_names_file_line_and_key(box, tmp_path, text, line, keypath, sub):
    f = _policy(tmp_path, text)
    args = ["check", "--config", str(f)] if sub == "check" else \
        ["python", "--config", str(f), "-c", "print(1)"]
    p = box.run(*args, input=b"", timeout=T)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    assert b"1\n" != p.stdout, "the code ran despite a bad policy"
    err = p.stderr.decode("utf-8", "replace")
    _assert_names(err, f, line, keypath)
    assert_no_crash_text(err)


def test_policy_error_in_json(box, tmp_path):
    f = _policy(tmp_path, POLICY_ERRORS[0][1])
    r = box.json("run", "--config", str(f), "--", "/bin/true", input=b"", timeout=T)
    assert r["_exit"] == 125
    assert r["status"] == "sandbox_error"
    _assert_names(r["message"], f, 4, "agent_sandbox.security_policy.bogus_key")


@pytest.mark.parametrize("text", [
    "agent_sandbox:\n  security_policy: [\n  x: : :\n",
    "agent_sandbox:\n\tbackend: jail\n",
    "agent_sandbox: {backend: jail\n",
    "agent_sandbox:\n  backend: 'unterminated\n",
    "- just\n- a list\n",
    "",
    "\x00\x01\x02",
    "agent_sandbox:\n  security_policy:\n    memory_limit: 256m\n    memory_limit: 512m\n",
    "agent_sandbox: &a\n  x: *a\n",
], ids=["flow-seq", "tab-indent", "unclosed-map", "unterminated-string", "list-doc",
        "empty", "binary", "duplicate-key", "alias-loop"])
def test_invalid_yaml(box, tmp_path, text):
    f = _policy(tmp_path, text)
    p = box.run("check", "--config", str(f), input=b"", timeout=T)
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.decode("utf-8", "replace")
    assert f.name in err, err
    assert_no_crash_text(err)
    r = box.json("check", "--config", str(f), input=b"", timeout=T)
    assert r["_exit"] == 125 and r["status"] == "sandbox_error" and r["message"], r


def test_huge_policy_file_does_not_hang(box, tmp_path):
    f = tmp_path / "huge.yaml"
    f.write_text("agent_sandbox:\n  security_policy:\n    allowed_commands: [" +
                 ", ".join(f"cmd{i}" for i in range(200000)) + "]\n")
    p = box.run("check", "--config", str(f), input=b"", timeout=T)
    assert p.returncode in (0, 125), (p.returncode, p.stderr[-500:])
    if p.returncode:
        assert p.stderr.strip()
        assert_no_crash_text(p.stderr)
