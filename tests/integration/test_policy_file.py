"""The DESIGN.md policy file is accepted as is; the file is applied; flags override it."""
import json
import time

import pytest

from example_policy import EXAMPLE  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture
def example(tmp_path):
    f = tmp_path / "agentbox.yaml"
    f.write_text(EXAMPLE)
    return f


def _with(tmp_path, **overrides):
    text = EXAMPLE
    for key, value in overrides.items():
        lines = [l for l in text.splitlines() if not l.strip().startswith(key + ":")]
        i = next(n for n, l in enumerate(lines) if l.strip() == "security_policy:")
        lines.insert(i + 1, f"    {key}: {value}")
        text = "\n".join(lines) + "\n"
    f = tmp_path / "custom.yaml"
    f.write_text(text)
    return f


def test_check_accepts_the_design_example(box, example):
    p = box.run("check", "--config", str(example))
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert example.name in out and "valid" in out


def test_check_json_accepts_the_design_example(box, example):
    p = box.run("check", "--config", str(example), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["valid"] is True


def test_python_runs_under_the_design_example(box, example):
    p = box.run("python", "--config", str(example), "-c", "import math\nprint(math.factorial(5))")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"120\n"


def test_sh_and_run_accept_the_design_example(box, example):
    p = box.run("sh", "--config", str(example), "-c", "ls / | grep -c usr")
    assert p.returncode == 0, p.stderr
    p = box.run("run", "--config", str(example), "--", "/bin/cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr


def test_flag_timeout_overrides_file(box, example):
    t0 = time.monotonic()
    r = box.json("python", "--config", str(example), "--timeout", "1", "-c",
                 "import time\ntime.sleep(10)", timeout=30)
    assert r["_exit"] == 124, r
    assert r["status"] == "timeout"
    assert r["time_ms"] < 5000
    assert time.monotonic() - t0 < 8
    p = box.run("run", "--config", str(example), "--timeout", "1", "--allow-command", "sleep", "--", "/bin/sleep", "10", timeout=30)
    assert p.returncode == 124


def test_flag_order_does_not_matter(box, example):
    # Flags override the file even when they come before --config.
    p = box.run("run", "--timeout", "1", "--config", str(example), "--allow-command", "sleep", "--", "/bin/sleep", "10", timeout=30)
    assert p.returncode == 124


def test_file_timeout_is_applied(box, tmp_path):
    f = _with(tmp_path, execution_timeout=1)
    t0 = time.monotonic()
    p = box.run("run", "--config", str(f), "--allow-command", "sleep", "--", "/bin/sleep", "10", timeout=30)
    assert p.returncode == 124
    assert time.monotonic() - t0 < 8


def test_flag_timeout_overrides_shorter_file_timeout(box, tmp_path):
    f = _with(tmp_path, execution_timeout=1)
    p = box.run("run", "--config", str(f), "--timeout", "10", "--allow-command", "sleep", "--", "/bin/sleep", "2", timeout=30)
    assert p.returncode == 0, p.stderr


def test_file_memory_limit_is_applied_and_flag_overrides_it(box, tmp_path):
    hog = "x = []\nwhile True:\n    x.append(' ' * 10**6)\n"
    f = _with(tmp_path, memory_limit="64m")
    r = box.json("python", "--config", str(f), "-c", hog)
    assert r["status"] == "resource_exceeded" and r["limit"] == "memory", r
    assert "64 MB" in (r.get("message") or ""), r
    assert r["memory_peak_bytes"] <= 70 * 2**20
    r = box.json("python", "--config", str(f), "--memory", "32m", "-c", hog)
    assert r["status"] == "resource_exceeded" and r["limit"] == "memory", r
    assert "32 MB" in (r.get("message") or ""), r


def test_file_output_limit_is_applied(box, tmp_path):
    f = _with(tmp_path, max_output_size="1k")
    r = box.json("python", "--config", str(f), "-c", "print('y' * 100000)")
    assert r["stdout_truncated"] is True
    assert len(r["stdout"].encode()) <= 1024 + 64


def test_whitelist_mode_example_is_accepted(box, tmp_path):
    f = _with(tmp_path, mode="whitelist")
    p = box.run("check", "--config", str(f))
    assert p.returncode == 0, p.stderr
