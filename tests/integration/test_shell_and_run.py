"""agentbox sh and agentbox run: pipes, exit codes, PATH, timeouts, env, mounts, cwd."""
import os
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest


def test_sh_pipeline(box):
    p = box.run("sh", "-c", "ls -la /tmp | wc -l")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().isdigit() and int(p.stdout) >= 1


def test_sh_and_list_and_pipe(box):
    p = box.run("sh", "-c", "true && echo yes | tr a-z A-Z; false || echo no")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"YES\nno\n"


def test_sh_and_list_short_circuits(box):
    p = box.run("sh", "-c", "false && echo never")
    assert p.returncode == 1
    assert p.stdout == b""


@pytest.mark.parametrize("code", [0, 1, 7, 42, 255])
def test_sh_exit_code_passes_through(box, code):
    p = box.run("sh", "-c", f"exit {code}")
    assert p.returncode == code


def test_sh_exit_code_in_json(box):
    r = box.json("sh", "-c", "echo out; echo err >&2; exit 7")
    assert r["_exit"] == 7
    assert r["status"] == "error"
    assert r["exit_code"] == 7
    assert r["stdout"] == "out\n" and r["stderr"] == "err\n"


def test_sh_from_stdin(box):
    p = box.run("sh", "-", input=b"echo hi | tr a-z A-Z\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"HI\n"


def test_sh_killed_by_signal_is_128_plus_n(box):
    p = box.run("sh", "-c", "kill -TERM $$")
    assert p.returncode == 128 + 15
    r = box.json("sh", "-c", "kill -TERM $$")
    assert r["_exit"] == 143 and r["signal"] == "SIGTERM"


def test_run_passes_arguments(box):
    p = box.run("run", "--", "/bin/echo", "a", "b")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"a b\n"


def test_run_arguments_are_not_shell_parsed(box):
    p = box.run("run", "--", "/bin/echo", "$HOME", "a;b", "*", "")
    assert p.stdout == b"$HOME a;b * \n"


def test_run_looks_up_path(box):
    p = box.run("run", "--", "echo", "hi")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"hi\n"


def test_run_missing_program(box):
    r = box.json("run", "--", "/nonexistent")
    assert r["_exit"] == 127
    assert r["status"] == "error"
    assert r["exit_code"] == 127
    msg = (r.get("message") or "") + r["stderr"]
    assert "/nonexistent" in msg, r
    p = box.run("run", "--", "/nonexistent")
    assert p.returncode == 127
    assert b"/nonexistent" in p.stderr


def test_run_missing_program_on_path(box):
    p = box.run("run", "--", "no-such-program-xyz")
    assert p.returncode == 127
    assert b"no-such-program-xyz" in p.stderr


def test_run_timeout(box):
    t0 = time.monotonic()
    r = box.json("run", "--timeout", "2", "--", "/bin/sleep", "10", timeout=30)
    elapsed = time.monotonic() - t0
    assert r["_exit"] == 124
    assert r["status"] == "timeout"
    assert 1900 <= r["time_ms"] <= 4000, r["time_ms"]
    assert elapsed < 6, elapsed


def test_run_timeout_without_json(box):
    t0 = time.monotonic()
    p = box.run("run", "--timeout", "1", "--", "/bin/sleep", "10", timeout=30)
    assert p.returncode == 124
    assert p.stderr.strip(), "a timeout should say so on stderr"
    assert time.monotonic() - t0 < 5


def test_timeout_kills_children_too(box):
    # The shell ignores nothing, but its child keeps the pipe open; the run must
    # still end on time.
    t0 = time.monotonic()
    p = box.run("sh", "--timeout", "1", "-c", "sleep 20 & sleep 20 & wait", timeout=30)
    assert p.returncode == 124
    assert time.monotonic() - t0 < 5


def test_env_flag_is_visible(box):
    r = box.json("run", "--env", "GREETING=hello world", "--env", "EMPTY=", "--", "/usr/bin/env")
    assert r["status"] == "success", r
    lines = r["stdout"].splitlines()
    assert "GREETING=hello world" in lines
    assert "EMPTY=" in lines


def test_host_environment_is_not_visible(box):
    name = "ABOX_HOST_SECRET_" + secrets.token_hex(4).upper()
    value = secrets.token_hex(16)
    env = dict(os.environ, **{name: value})
    for args in (("run", "--", "/usr/bin/env"),
                 ("sh", "-c", "env; set"),
                 ("python", "-c", "import os\nprint(dict(os.environ))")):
        p = box.run(*args, env=env)
        assert p.returncode == 0, (args, p.stderr)
        assert name.encode() not in p.stdout and value.encode() not in p.stdout, args
        assert value.encode() not in p.stderr


def test_home_and_working_directory(box):
    p = box.run("sh", "-c", 'echo "$HOME"; pwd')
    assert p.stdout == b"/workspace\n/workspace\n"
    r = box.json("python", "-c", "import os\n(os.getcwd(), os.environ.get('HOME'))")
    assert r["value"] == "('/workspace', '/workspace')"
    p = box.run("run", "--", "/bin/pwd")
    assert p.stdout == b"/workspace\n"


def test_workspace_is_writable(box):
    p = box.run("sh", "-c", "echo data > /workspace/f && cat /workspace/f && echo t > /tmp/t && cat /tmp/t")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"data\nt\n"


@pytest.fixture
def hostdir():
    # Not under /tmp: the sandbox gets a /tmp of its own, and a host dir there
    # must still be mountable, but keep the ordinary case ordinary.
    d = tempfile.mkdtemp(prefix="abox-it-mount.", dir="/var/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_mount_read_only(box, hostdir):
    os.chmod(hostdir, 0o777)  # the sandbox's uid is not root on the host
    with open(os.path.join(hostdir, "in.txt"), "w") as f:
        f.write("hello from host\n")
    os.chmod(os.path.join(hostdir, "in.txt"), 0o666)
    p = box.run("sh", "--mount", f"{hostdir}:/data", "-c",
                "cat /data/in.txt; echo x > /data/new.txt; echo w=$?; echo y >> /data/in.txt; echo a=$?")
    out = p.stdout.decode()
    assert "hello from host" in out
    assert "w=0" not in out and "a=0" not in out, out
    assert not os.path.exists(os.path.join(hostdir, "new.txt"))
    assert open(os.path.join(hostdir, "in.txt")).read() == "hello from host\n"


def test_mount_read_write(box, hostdir):
    os.chmod(hostdir, 0o777)
    token = secrets.token_hex(8)
    p = box.run("sh", "--mount", f"{hostdir}:/data:rw", "-c", f"echo {token} > /data/out.txt")
    assert p.returncode == 0, p.stderr
    with open(os.path.join(hostdir, "out.txt")) as f:
        assert f.read() == token + "\n"



def test_exec_failure_is_reported_with_the_smallest_open_files_limit(box):
    r = box.json("run", "--open-files", "16", "--", "/nonexistent/program")
    assert (r["exit_code"], r["message"]) == (
        127, "cannot execute '/nonexistent/program': No such file or directory"), r


def _cpus_inside(box, *prefix):
    p = subprocess.run([*prefix, box.path, "run", "--", "/bin/grep", "Cpus_allowed_list",
                        "/proc/self/status"], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    cpus = set()
    for part in p.stdout.decode().split()[-1].split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def test_the_payload_may_use_every_cpu_its_caller_may(box):
    # The child is started away from its parent's CPU (so their set-up
    # overlaps) and must take the rest back: the payload gets exactly the
    # caller's CPUs, no fewer and no more.
    cpus = os.sched_getaffinity(0)
    assert len(cpus) >= 2, "this test needs a machine with two CPUs"
    for _ in range(5):
        assert _cpus_inside(box) == cpus
    one = max(cpus)
    assert _cpus_inside(box, "taskset", "-c", str(one)) == {one}


def test_a_build_that_fails_part_way_always_reports_the_childs_reason(box, tmp_path):
    # The child may fail before the supervisor's last message reaches it
    # (then that write finds it gone): the reason is still the child's.
    (tmp_path / "f").write_text("x")
    seen = set()
    for _ in range(150):
        p = box.run("run", "--mount", f"{tmp_path}/f:/workspace/a", "--mount",
                    f"{tmp_path}:/workspace/a/b", "--", "/bin/true")
        assert p.returncode == 125
        seen.add(p.stderr)
    assert seen == {b"agentbox: cannot build the sandbox: mount /workspace/a/b: Not a directory\n"}
