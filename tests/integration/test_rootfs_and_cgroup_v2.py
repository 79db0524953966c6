"""Two setups this host does not use by default, made real for the test:

- a `rootfs:` directory replacing the host's /usr (built here from Debian's
  busybox-static: a static binary and its applet links);
- the cgroup v2 backend: this host binds memory/pids/cpu to v1, so the test
  mounts cgroup2 over /sys/fs/cgroup in a private mount namespace of its own
  (`unshare -m`) and runs agentbox there.  The v2 tree here has no
  memory/pids controllers to hand out, so those are degraded explicitly; the
  run must still be born in a v2 group (clone3 CLONE_INTO_CGROUP), measure
  its CPU from that group's cpu.stat, and leave no group behind.
"""
import json
import os
import shutil
import subprocess

import pytest

BUSYBOX = "/bin/busybox"


@pytest.fixture
def rootfs(tmp_path):
    assert os.path.exists(BUSYBOX), "busybox-static is installed by tools/install-deps"
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "usr" / "bin" / "busybox")
    for applet in ("sh", "ls", "cat", "echo"):
        (root / "usr" / "bin" / applet).symlink_to("busybox")
    (root / "bin").symlink_to("usr/bin")
    return root


def test_rootfs_replaces_host_usr(box, rootfs):
    r = box.json("run", "--rootfs", str(rootfs), "--", "/bin/sh", "-c",
                 "echo from-rootfs; ls /usr/bin; if test -e /usr/bin/python3; then echo HOST-USR-VISIBLE; fi")
    assert r["_exit"] == 0 and r["status"] == "success", r
    assert "from-rootfs" in r["stdout"]
    assert "busybox" in r["stdout"]
    assert "HOST-USR-VISIBLE" not in r["stdout"]


def test_rootfs_without_usr_is_refused(box, tmp_path):
    p = box.run("run", "--rootfs", str(tmp_path), "--", "/bin/true")
    assert p.returncode == 125
    assert b"usr" in p.stderr


def _in_v2_namespace(box, *args):
    script = ("mount -t cgroup2 none /sys/fs/cgroup && "
              "exec \"$@\"")
    p = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", box.path, *args],
                       capture_output=True, timeout=60)
    return p


def test_cgroup_v2_backend_runs_and_cleans_up(box):
    p = _in_v2_namespace(box, "run", "--json", "--allow-degraded", "cgroup:memory",
                         "--allow-degraded", "cgroup:pids", "--", "/bin/sh", "-c",
                         "cat /proc/self/cgroup; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["status"] == "success"
    # Born in its own group inside a fresh cgroup namespace: it sees itself at the root.
    assert "0::/\n" in r["stdout"]
    # CPU came from the v2 group's cpu.stat (the loop burns well over 10 ms).
    assert r["cpu_ms"] >= 10, r
    assert "cgroupns" in r["protections"]
    # The sandbox's group is gone afterwards.
    left = subprocess.run(["unshare", "-m", "sh", "-c",
                           "mount -t cgroup2 none /sys/fs/cgroup && "
                           "ls /sys/fs/cgroup/agentbox 2>/dev/null | grep '^abox-' || true"],
                          capture_output=True, timeout=30)
    assert left.stdout == b"", left.stdout


def test_cgroup_v2_without_delegated_controllers_fails_closed(box):
    p = _in_v2_namespace(box, "run", "--", "/bin/true")
    assert p.returncode == 125
    assert b"cgroup2:memory" in p.stderr
    c = _in_v2_namespace(box, "check")
    assert c.returncode == 1
    assert b"cgroup2:memory   MISSING" in c.stdout
    assert b"no memory and pids controllers here" in c.stdout, c.stdout
