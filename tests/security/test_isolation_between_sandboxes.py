"""Two sandboxes at once: nothing one of them creates is visible to, reachable
from or changeable by the other.

Sandbox A plants files in /dev/shm, /tmp and /workspace, binds an abstract
unix socket, creates System V IPC objects and starts a `sleep` with a unique
argument; it signals "ready" through a read-write mount and stays up until
the test tells it to stop.  Sandbox B, run meanwhile, goes looking for all of
it.  A then reports whether anything connected to it or changed its files.
"""
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest

from canaries import (READ, brief, host_processes_with, ok, py, run_box, unique_sleep_arg,
                      wait_for_binary)

SANDBOX_A = '''
import subprocess, time
PLACES = ("/dev/shm", "/tmp", "/workspace")
for d in PLACES:
    with open(f"{d}/{NAME}", "w") as f:
        f.write(SECRET)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(b"\\0" + NAME.encode())
srv.listen(16)
srv.setblocking(False)
shmid = _libc.shmget(KEY, 4096, 0o1600)  # IPC_CREAT | 0600
msqid = _libc.msgget(KEY, 0o1600)
child = subprocess.Popen(["/bin/sleep", MARK])
with open("/mnt/ctl/ready", "w") as f:
    f.write(f"{shmid} {msqid}")
hits = 0
deadline = time.monotonic() + 15
while not os.path.exists("/mnt/ctl/stop") and time.monotonic() < deadline:
    try:
        conn, _ = srv.accept()
        hits += 1
        conn.close()
    except BlockingIOError:
        time.sleep(0.01)
print("connections:", hits)
print("files intact:", [open(f"{d}/{NAME}").read() == SECRET for d in PLACES])
print("ipc:", shmid >= 0, msqid >= 0)
child.kill()
child.wait()
'''


class SandboxA:
    def __init__(self, box, canary):
        self.name = "sbx" + secrets.token_hex(8)
        self.secret = "otherbox" + secrets.token_hex(12)
        self.key = 0x5EC00000 + secrets.randbelow(1 << 20)
        self.mark = unique_sleep_arg()
        canary.extra_secrets.append(self.secret)
        self.ctl = pathlib.Path(tempfile.mkdtemp(prefix="agentbox-sec-ctl-", dir="/tmp"))
        os.chmod(self.ctl, 0o777)
        wait_for_binary(box.path)
        code = py(SANDBOX_A, NAME=self.name, SECRET=self.secret, KEY=self.key, MARK=self.mark)
        self.proc = subprocess.Popen(
            [box.path, "python", "--json", "--timeout", "20", "--mount",
             f"{self.ctl}:/mnt/ctl:rw", "-c", code],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=canary.env)
        deadline = time.monotonic() + 10
        while not (self.ctl / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out, err = self.proc.communicate(timeout=10)
                raise AssertionError(f"sandbox A never got ready: {out[:2000]!r} {err!r}")
            time.sleep(0.01)
        shm, msq = (self.ctl / "ready").read_text().split()
        assert int(shm) >= 0 and int(msq) >= 0, "sandbox A could not create its IPC objects"

    def sleep_pids(self):
        """Host pids of A's `sleep` (agentbox's own command line holds the mark too)."""
        return [p for p, cmd in host_processes_with(self.mark) if cmd.startswith("/bin/sleep ")]

    def finish(self):
        (self.ctl / "stop").write_text("stop")
        out, err = self.proc.communicate(timeout=15)
        doc = json.loads(out)
        doc["_exit"] = self.proc.returncode
        return doc

    def assert_undisturbed(self, canary):
        doc = self.finish()
        assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
        assert doc["stdout"] == ("connections: 0\nfiles intact: [True, True, True]\n"
                                 "ipc: True True\n"), brief(doc)
        canary.assert_untouched(doc)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.ctl, ignore_errors=True)


@pytest.fixture
def sandbox_a(box, canary):
    a = SandboxA(box, canary)
    yield a
    a.cleanup()




def test_other_sandbox_dev_shm_file_is_invisible(box, canary, sandbox_a):
    doc = run_box(box, "python", "-c", py(READ, '''
        print(os.listdir("/dev/shm"))
        read("shm", "/dev/shm/" + NAME)
        with open("/dev/shm/" + NAME, "w") as f:  # our own, same name
            f.write("from B")
    ''', NAME=sandbox_a.name), canary=canary)
    ok(doc, "[]\nshm: ENOENT\n")
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)


def test_other_sandbox_tmp_and_workspace_files_are_invisible(box, canary, sandbox_a):
    doc = run_box(box, "python", "-c", py(READ, '''
        print(os.listdir("/tmp"), os.listdir("/workspace"))
        read("tmp", "/tmp/" + NAME)
        read("workspace", "/workspace/" + NAME)
        for d in ("/tmp", "/workspace"):
            with open(f"{d}/{NAME}", "w") as f:
                f.write("from B")
    ''', NAME=sandbox_a.name), canary=canary)
    ok(doc, "[] []\ntmp: ENOENT\nworkspace: ENOENT\n")
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)


def test_other_sandbox_abstract_socket_connect_is_refused(box, canary, sandbox_a):
    doc = run_box(box, "python", "-c", py('''
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        attempt("connect", s.connect, b"\\0" + NAME.encode())
        d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        attempt("sendto", d.sendto, b"hello", b"\\0" + NAME.encode())
        names = [l.split()[-1] for l in open("/proc/net/unix").read().splitlines()[1:]]
        print(any(NAME in n for n in names))
    ''', NAME=sandbox_a.name), canary=canary)
    assert doc["stdout"] in ("connect: ECONNREFUSED\nsendto: ECONNREFUSED\nFalse\n",
                             "connect: EPERM\nsendto: EPERM\nFalse\n"), brief(doc)
    ok(doc, doc["stdout"])
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)


def test_other_sandbox_sysv_ipc_objects_are_invisible(box, canary, sandbox_a):
    doc = run_box(box, "python", "-c", py('''
        ctypes.set_errno(0)
        print("shmget:", _libc.shmget(KEY, 0, 0), _name(ctypes.get_errno()))
        ctypes.set_errno(0)
        print("msgget:", _libc.msgget(KEY, 0), _name(ctypes.get_errno()))
        for kind in ("shm", "msg"):
            print(kind, len(open(f"/proc/sysvipc/{kind}").read().splitlines()))
    ''', KEY=sandbox_a.key), canary=canary)
    ok(doc, "shmget: -1 ENOENT\nmsgget: -1 ENOENT\nshm 1\nmsg 1\n")
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)


def test_other_sandbox_processes_are_invisible(box, canary, sandbox_a):
    doc = run_box(box, "python", "-c", py('''
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        seen = False
        for p in pids:
            try:
                seen |= MARK.encode() in open(f"/proc/{p}/cmdline", "rb").read()
            except OSError:
                pass
        print("marker seen:", seen, all(p < 100 for p in pids))
    ''', MARK=sandbox_a.mark), canary=canary)
    ok(doc, "marker seen: False True\n")
    assert len(sandbox_a.sleep_pids()) == 1  # A's sleep was there all along
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)


def test_other_sandbox_process_cannot_be_signalled(box, canary, sandbox_a):
    [host_pid] = sandbox_a.sleep_pids()
    doc = run_box(box, "python", "-c", py('''
        import signal
        attempt("kill", os.kill, HOST_PID, signal.SIGKILL)
        attempt("pidfd_open", lambda: os.pidfd_open(HOST_PID))
    ''', HOST_PID=host_pid), canary=canary)
    ok(doc, "kill: ESRCH\npidfd_open: ESRCH\n")
    assert sandbox_a.sleep_pids() == [host_pid]
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)


def test_other_sandbox_file_on_shared_rw_mount_cannot_be_modified(box, canary, sandbox_a):
    """Both are uid 1000 inside but different host uids: B, given the same
    directory read-write, cannot change the 0644 file A wrote there."""
    ready = sandbox_a.ctl / "ready"
    before = (ready.read_bytes(), ready.stat().st_uid, ready.stat().st_mode)
    doc = run_box(box, "python", "--mount", f"{sandbox_a.ctl}:/mnt/ctl:rw", "-c", py('''
        attempt("append", lambda: open("/mnt/ctl/ready", "a").write("from B"))
        attempt("chmod", os.chmod, "/mnt/ctl/ready", 0o666)
        print(os.getuid(), open("/proc/self/uid_map").read().split()[1] != str(A_UID))
    ''', A_UID=before[1]), canary=canary)
    ok(doc, "append: EACCES\nchmod: EPERM\n1000 True\n")
    assert (ready.read_bytes(), ready.stat().st_uid, ready.stat().st_mode) == before
    assert before[1] != 0 and before[2] & 0o777 == 0o644
    sandbox_a.assert_undisturbed(canary)
    canary.assert_untouched(doc)
