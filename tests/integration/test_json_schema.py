"""Every field of the DESIGN.md result, with the right types, for each kind of outcome."""
import json
import re

import pytest

STATUSES = {"success", "error", "timeout", "resource_exceeded", "blocked", "sandbox_error"}
LIMITS = {None, "memory", "pids", "output", "file_size", "disk", "cpu_time"}
FIELDS = ["status", "limit", "exit_code", "signal", "stdout", "stderr", "stdout_truncated",
          "stderr_truncated", "value", "error", "violations", "redactions", "time_ms", "cpu_ms",
          "memory_peak_bytes", "protections"]

HOG = "x=[]\nwhile True: x.append(' '*10**6)"


def is_int(v):
    return type(v) is int  # bool is an int subclass; it is not a number here


def check_schema(r):
    missing = [f for f in FIELDS if f not in r]
    assert not missing, f"missing fields {missing}: {r}"
    assert r["status"] in STATUSES
    assert r["limit"] in LIMITS
    assert r["exit_code"] is None or is_int(r["exit_code"])
    assert r["signal"] is None or (isinstance(r["signal"], str) and re.fullmatch(r"SIG[A-Z0-9+-]+", r["signal"]))
    assert isinstance(r["stdout"], str) and isinstance(r["stderr"], str)
    assert type(r["stdout_truncated"]) is bool and type(r["stderr_truncated"]) is bool
    assert r["value"] is None or isinstance(r["value"], str)
    err = r["error"]
    assert err is None or (isinstance(err, dict) and
                           all(isinstance(err.get(k), str) for k in ("type", "message", "traceback"))), err
    assert isinstance(r["violations"], list)
    for v in r["violations"]:
        assert isinstance(v, dict) and {"rule", "target", "detail"} <= set(v)
    assert is_int(r["redactions"]) and r["redactions"] >= 0
    for k in ("time_ms", "cpu_ms", "memory_peak_bytes"):
        assert is_int(r[k]) and r[k] >= 0, (k, r[k])
    assert isinstance(r["protections"], list) and all(isinstance(p, str) for p in r["protections"])


def check_protections(prot):
    s = set(prot)
    for name in ("userns", "pidns", "netns", "seccomp"):
        assert name in s, (name, prot)
    assert any(re.fullmatch(r"landlock:\d+", p) for p in prot), prot
    assert any(re.fullmatch(r"cgroup[12]?:memory", p) for p in prot), prot
    assert any(re.fullmatch(r"cgroup[12]?:pids", p) for p in prot), prot
    assert len(prot) == len(s), f"duplicates in {prot}"


def test_success_result(box):
    r = box.json("python", "-c", "print('hi')\n6*7")
    check_schema(r)
    check_protections(r["protections"])
    assert r["_exit"] == 0
    assert r["status"] == "success" and r["limit"] is None
    assert r["exit_code"] == 0 and r["signal"] is None
    assert r["stdout"] == "hi\n" and r["stderr"] == ""
    assert r["stdout_truncated"] is False and r["stderr_truncated"] is False
    assert r["value"] == "42" and r["error"] is None
    assert r["violations"] == [] and r["redactions"] == 0
    assert r["memory_peak_bytes"] > 0
    assert r["time_ms"] < 20000


def test_error_result(box):
    r = box.json("python", "-c", "print('x')\nraise KeyError('k')")
    check_schema(r)
    check_protections(r["protections"])
    assert r["_exit"] == 1
    assert r["status"] == "error" and r["limit"] is None
    assert r["exit_code"] == 1 and r["signal"] is None
    assert r["error"]["type"] == "KeyError"
    assert "k" in r["error"]["message"]
    assert "<cell>" in r["error"]["traceback"]
    assert r["value"] is None and r["stdout"] == "x\n"


def test_run_and_sh_results_have_no_python_fields(box):
    for r in (box.json("run", "--", "/bin/echo", "x"), box.json("sh", "-c", "echo x")):
        check_schema(r)
        check_protections(r["protections"])
        assert r["status"] == "success" and r["stdout"] == "x\n"
        assert r["value"] is None and r["error"] is None


def test_timeout_result(box):
    r = box.json("python", "--timeout", "1", "-c", "while True: pass", timeout=30)
    check_schema(r)
    check_protections(r["protections"])
    assert r["_exit"] == 124
    assert r["status"] == "timeout"
    assert r["limit"] is None or r["limit"] == "cpu_time"
    assert r["exit_code"] is None or r["exit_code"] == 124
    assert 900 <= r["time_ms"] <= 4000
    assert r["cpu_ms"] >= 300, "a busy loop for ~1 s should show CPU time"


def test_memory_kill_result(box):
    r = box.json("python", "-c", HOG, timeout=60)
    check_schema(r)
    check_protections(r["protections"])
    assert r["_exit"] == 137
    assert r["status"] == "resource_exceeded"
    assert r["limit"] == "memory"
    assert r["signal"] in (None, "SIGKILL")
    assert r["exit_code"] in (None, 137)
    assert r.get("message") == "Memory limit exceeded (256 MB)", r.get("message")
    assert 200 * 2**20 <= r["memory_peak_bytes"] <= 300 * 2**20, r["memory_peak_bytes"]


def test_memory_kill_message_on_stderr(box):
    p = box.run("python", "-c", HOG, timeout=60)
    assert p.returncode == 137
    assert b"Memory limit exceeded (256 MB)" in p.stderr, p.stderr


def test_memory_limit_flag_is_reported_by_size(box):
    r = box.json("python", "--memory", "48m", "-c", HOG, timeout=60)
    assert r["status"] == "resource_exceeded" and r["limit"] == "memory"
    assert r.get("message") == "Memory limit exceeded (48 MB)", r.get("message")


def test_signal_death_result(box):
    r = box.json("python", "-c", "import os\nos.abort()")
    check_schema(r)
    assert r["_exit"] == 128 + 6
    assert r["status"] == "error"
    assert r["signal"] == "SIGABRT"
    assert r["limit"] is None


def test_output_truncation_flags(box):
    r = box.json("python", "--output-limit", "1k", "-c",
                 "import sys\nprint('o'*5000)\nprint('e'*5000, file=sys.stderr)")
    check_schema(r)
    assert r["stdout_truncated"] is True and r["stderr_truncated"] is True
    assert len(r["stdout"]) <= 1024 + 64 and len(r["stderr"]) <= 1024 + 64


def test_sandbox_error_result_is_schema_complete(box):
    r = box.json("run", "--memory", "256q", "--", "/bin/true")
    check_schema(r)
    assert r["status"] == "sandbox_error"
    assert r["_exit"] == 125


def test_json_is_the_only_thing_on_stdout(box):
    p = box.run("python", "--json", "-c", "print('hello')\nimport sys\nprint('err', file=sys.stderr)")
    text = p.stdout.decode()
    assert text.lstrip().startswith("{") and text.rstrip().endswith("}")
    doc = json.loads(text)  # the whole of stdout is one JSON object
    assert doc["stdout"] == "hello\n" and doc["stderr"] == "err\n"
