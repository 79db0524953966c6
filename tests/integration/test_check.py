"""agentbox check: the policy is valid and every protection is shown as enforced here."""
import json
import re

import pytest


@pytest.fixture(scope="module")
def check_json(box):
    p = box.run("check", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_check_exit_zero_and_table(box, check_json):
    p = box.run("check")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "valid" in out
    rows = {}
    for line in out.splitlines():
        cols = line.split()
        if cols:
            rows[cols[0]] = line
    names = [pr["name"] for pr in check_json["protections"]]
    assert names, check_json
    for name in names:
        assert name in rows, f"protection {name} missing from the table:\n{out}"
        assert "enforced" in rows[name].split(), f"{name} is not shown as enforced: {rows[name]!r}"


def test_check_covers_the_required_protections(check_json):
    names = [pr["name"] for pr in check_json["protections"]]
    for name in ("userns", "pidns", "netns", "seccomp"):
        assert name in names
    assert any(re.fullmatch(r"landlock:\d+", n) for n in names), names
    assert any(re.fullmatch(r"cgroup[12]?:memory", n) for n in names), names
    assert any(re.fullmatch(r"cgroup[12]?:pids", n) for n in names), names
    # Every protection, also what this policy does not ask for: the CPU cap.
    cpu = [pr for pr in check_json["protections"] if re.fullmatch(r"cgroup[12]?:cpu", pr["name"])]
    assert len(cpu) == 1 and cpu[0]["required"] is False, cpu
    assert cpu[0]["detail"] == "not used: the policy sets no cpu_limit or cpu_time_limit", cpu


def test_check_json_shape(check_json):
    assert check_json["valid"] is True
    assert check_json["runnable"] is True
    for pr in check_json["protections"]:
        assert isinstance(pr["name"], str) and pr["name"]
        assert pr["available"] is True, f"{pr['name']} not available on this host"
        assert type(pr["required"]) is bool
        assert isinstance(pr["detail"], str) and pr["detail"], pr


def test_runs_claim_no_protection_that_check_does_not_show(box, check_json):
    available = {pr["name"] for pr in check_json["protections"] if pr["available"]}
    r = box.json("run", "--", "/bin/true")
    assert set(r["protections"]) <= available, set(r["protections"]) - available
    # and everything required here is in force for a default run
    required = {pr["name"] for pr in check_json["protections"] if pr["required"] and pr["available"]}
    assert required <= set(r["protections"]), required - set(r["protections"])


def test_check_does_not_need_a_config(box):
    p = box.run("check", input=b"")
    assert p.returncode == 0
    assert p.stdout.startswith(b"policy: (defaults) is valid\n"), p.stdout
