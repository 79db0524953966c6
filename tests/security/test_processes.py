"""Processes: nothing outlives the run, host processes are out of sight and
out of reach, and the code runs as an unprivileged user."""
import errno
import fcntl
import json
import os
import secrets
import signal
import subprocess
import time

import pytest

from canaries import brief, host_processes_with, py, run_box, unique_sleep_arg


def ok(doc, stdout):
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["_exit"]) == \
        ("success", None, 0, 0), brief(doc)
    assert doc["stdout"] == stdout, brief(doc)


DAEMONIZE = '''
def daemonize(arg, keep_stdout=False):
    """Classic double fork: the grandchild is reparented and in its own session."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            fd = os.open("/dev/null", os.O_RDWR)
            for i in ((0,) if keep_stdout else (0, 1, 2)):
                os.dup2(fd, i)
            os.execv("/bin/sleep", ["sleep", arg])
        os._exit(0)
    os.waitpid(pid, 0)

def running(arg):
    """How many processes of this sandbox run `sleep arg`."""
    n = 0
    for p in os.listdir("/proc"):
        try:
            n += open(f"/proc/{p}/cmdline", "rb").read() == b"sleep\\0" + arg.encode() + b"\\0"
        except OSError:
            pass
    return n
'''


def test_double_forked_daemon_does_not_outlive_run(box, canary, sentinel):
    mark = unique_sleep_arg()
    doc = run_box(box, "python", "--timeout", "10", "-c", py(DAEMONIZE, '''
        daemonize(MARK)
        import time
        time.sleep(0.2)
        print("daemons running:", running(MARK))
    ''', MARK=mark), canary=canary)
    ok(doc, "daemons running: 1\n")
    assert doc["_wall"] < 5, brief(doc)
    assert host_processes_with(mark) == []
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_daemon_holding_stdout_open_does_not_delay_or_outlive_run(box, canary, sentinel):
    mark = unique_sleep_arg()
    doc = run_box(box, "python", "--timeout", "20", "-c", py(DAEMONIZE, '''
        daemonize(MARK, keep_stdout=True)
        import time
        time.sleep(0.2)
        print("daemons running:", running(MARK))
    ''', MARK=mark), canary=canary)
    ok(doc, "daemons running: 1\n")
    assert doc["_wall"] < 5, brief(doc)  # not held until the daemon's EOF or the timeout
    assert host_processes_with(mark) == []
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_shell_setsid_and_nohup_background_jobs_do_not_outlive_run(box, canary, sentinel):
    mark1, mark2 = unique_sleep_arg(), unique_sleep_arg()
    doc = run_box(box, "sh", "--timeout", "10", "-c",
                  f"setsid sleep {mark1} >/dev/null 2>&1 </dev/null & "
                  f"nohup sleep {mark2} >/dev/null 2>&1 & sleep 0.2; "
                  f"for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done "
                  f"| grep -c -e '^sleep {mark1} $' -e '^sleep {mark2} $'",
                  canary=canary)
    ok(doc, "2\n")
    assert doc["_wall"] < 5, brief(doc)
    assert host_processes_with(mark1) == [] and host_processes_with(mark2) == []
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_daemon_does_not_outlive_timeout(box, canary, sentinel):
    mark = unique_sleep_arg()
    doc = run_box(box, "python", "--timeout", "1", "-c", py(DAEMONIZE, '''
        daemonize(MARK)
        while True:
            pass
    ''', MARK=mark), canary=canary)
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["signal"], doc["_exit"]) == \
        ("timeout", None, None, "SIGKILL", 124), brief(doc)
    assert doc["_wall"] < 4, brief(doc)
    assert host_processes_with(mark) == []
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_read_launcher_environment_sees_only_path_home_lang_term(box, canary):
    doc = run_box(box, "python", "-c", py('''
        print(sorted(os.environ))
        print(sorted(k.split(b"=")[0].decode() for k in
                     open("/proc/self/environ", "rb").read().split(b"\\0") if k))
    '''), canary=canary)
    ok(doc, "['HOME', 'LANG', 'PATH', 'TERM']\n['HOME', 'LANG', 'PATH', 'TERM']\n")
    canary.assert_untouched(doc)


def test_read_proc_1_environ_finds_no_such_file(box, canary):
    doc = run_box(box, "python", "-c", py('''
        attempt("init environ", lambda: open("/proc/1/environ", "rb").read())
        attempt("parent environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read())
        # Whatever other process is visible: its environment too.
        for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
            try:
                sys.stdout.write(open(f"/proc/{pid}/environ", "rb").read().hex() + "\\n")
            except OSError:
                pass
    '''), canary=canary)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    assert doc["stdout"].startswith("init environ: ENOENT\nparent environ: ENOENT\n"), brief(doc)
    assert canary.env_value.encode().hex() not in doc["stdout"]
    canary.assert_untouched(doc)


def test_launcher_file_descriptor_does_not_leak_into_sandbox(box, canary):
    fd = os.open(canary.tmp_file, os.O_RDONLY)
    try:
        os.dup2(fd, 200, inheritable=True)
        doc = run_box(box, "python", "-c", py('''
            attempt("fstat 200", os.fstat, 200)
            attempt("read 200", os.pread, 200, 4096, 0)
            for n in sorted(os.listdir("/proc/self/fd"), key=int):
                try:
                    print(n, os.readlink(f"/proc/self/fd/{n}"))
                except OSError:
                    pass
        '''), canary=canary, pass_fds=(200,))
    finally:
        os.close(fd)
        os.close(200)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    assert doc["stdout"].startswith("fstat 200: EBADF\nread 200: EBADF\n"), brief(doc)
    assert str(canary.tmp_dir) not in doc["stdout"]
    canary.assert_untouched(doc)


def test_uid_inside_is_1000_and_becoming_root_is_refused(box, canary):
    doc = run_box(box, "python", "-c", py('''
        print(os.getresuid(), os.getresgid(), os.getgroups())
        inside, outside, count = open("/proc/self/uid_map").read().split()
        print(inside, count, int(outside) != 0)
        attempt("setuid 0", os.setuid, 0)
        attempt("setgroups 0", os.setgroups, [0])
        attempt("setresuid 0", os.setresuid, 0, 0, 0)
        print(os.getresuid())
    '''), canary=canary)
    ok(doc, "(1000, 1000, 1000) (1000, 1000, 1000) []\n1000 1 True\n"
            "setuid 0: EINVAL\nsetgroups 0: EPERM\nsetresuid 0: EINVAL\n(1000, 1000, 1000)\n")
    canary.assert_untouched(doc)


def test_setuid_root_binary_does_not_raise_privileges(box, canary):
    doc = run_box(box, "python", "-c", py('''
        import subprocess, time
        master, slave = os.openpty()
        p = subprocess.Popen(["/usr/bin/su", "-c", "id"], stdin=slave, stdout=slave,
                             stderr=slave, start_new_session=True)
        uid = None
        for _ in range(200):
            try:
                status = open(f"/proc/{p.pid}/status").read()
            except OSError as e:
                uid = _name(e.errno)
                break
            if "Name:\\tsu\\n" in status:
                uid = [l for l in status.splitlines() if l.startswith("Uid:")][0]
                break
            time.sleep(0.01)
        p.kill()
        p.wait()
        print(uid)
    '''), canary=canary)
    ok(doc, "Uid:\t1000\t1000\t1000\t1000\n")
    canary.assert_untouched(doc)


FORK_BOMB = '''
import time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print("fork failed:", _name(e.errno), flush=True)
        break
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", MARK])
        finally:
            os._exit(1)
    n += 1
'''


def test_fork_bomb_is_stopped_by_pids_limit(box, canary, sentinel):
    mark = unique_sleep_arg()
    doc = run_box(box, "python", "--pids", "32", "--timeout", "5", "-c",
                  py(FORK_BOMB, MARK=mark), canary=canary)
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["_exit"]) == \
        ("resource_exceeded", "pids", 0, 0), brief(doc)
    assert doc["stdout"] == "fork failed: EAGAIN\n", brief(doc)
    assert doc["_wall"] < 5, brief(doc)
    assert host_processes_with(mark) == []
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_shell_fork_bomb_is_capped_by_pids_limit_until_timeout(box, canary, sentinel):
    mark = "forkbomb" + secrets.token_hex(8)
    doc = run_box(box, "sh", "--pids", "32", "--timeout", "2", "-c",
                  f": {mark}; bomb() {{ bomb | bomb & }}; bomb; sleep 30", canary=canary)
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["signal"], doc["_exit"]) == \
        ("timeout", "pids", None, "SIGKILL", 124), brief(doc)
    assert "Cannot fork" in doc["stderr"], brief(doc)
    assert doc["_wall"] < 5, brief(doc)
    assert host_processes_with(mark) == []
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_pids_limit_counts_the_codes_processes_exactly(box, canary, sentinel):
    """pids_limit is the code's processes: agentbox's own pid 1 is not one of
    them.  With 1 a program runs and cannot fork; with 3, Python starts
    exactly two children and the third fork fails."""
    doc = run_box(box, "run", "--pids", "1", "--", "/bin/echo", "alone", canary=canary)
    ok(doc, "alone\n")
    doc = run_box(box, "sh", "--pids", "1", "-c", "/bin/true & wait; echo not reached",
                  canary=canary)
    assert (doc["status"], doc["limit"], doc["exit_code"]) == \
        ("resource_exceeded", "pids", 2), brief(doc)
    assert "Cannot fork" in doc["stderr"] and doc["stdout"] == "", brief(doc)
    doc = run_box(box, "python", "--pids", "3", "-c", py('''
        import signal
        children = []
        try:
            for _ in range(5):
                pid = os.fork()
                if pid == 0:
                    signal.pause()  # until the parent kills it
                    os._exit(0)
                children.append(pid)
        except OSError as e:
            print(len(children), errno.errorcode[e.errno])
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    '''), canary=canary)
    assert (doc["status"], doc["limit"], doc["stdout"]) == \
        ("resource_exceeded", "pids", "2 EAGAIN\n"), brief(doc)
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_thread_bomb_is_stopped_by_pids_limit(box, canary, sentinel):
    doc = run_box(box, "python", "--pids", "32", "--timeout", "5", "-c", py('''
        import threading, time
        ev = threading.Event()
        n = 0
        while True:
            try:
                threading.Thread(target=ev.wait, daemon=True).start()
            except RuntimeError as e:
                print("thread failed:", e, flush=True)
                break
            n += 1
        print(n < 32)
        ev.set()
    '''), canary=canary)
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["_exit"]) == \
        ("resource_exceeded", "pids", 0, 0), brief(doc)
    assert doc["stdout"] == "thread failed: can't start new thread\nTrue\n", brief(doc)
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_host_pids_are_invisible_in_proc(box, canary, sentinel):
    doc = run_box(box, "python", "-c", py('''
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(pids)
        seen = False
        for p in pids:
            try:
                seen |= MARK.encode() in open(f"/proc/{p}/cmdline", "rb").read()
            except OSError:
                pass
        print("marker seen:", seen)
        attempt("stat host pid", os.stat, f"/proc/{HOST_PID}")
    ''', MARK=sentinel.marker, HOST_PID=sentinel.pid), canary=canary)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    lines = doc["stdout"].splitlines()
    pids = eval(lines[0])  # a list of ints printed by the sandbox
    assert pids and all(p < 100 for p in pids), brief(doc)
    assert 1 not in pids and sentinel.pid not in pids
    assert lines[1:] == ["marker seen: False", "stat host pid: ENOENT"], brief(doc)
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_signal_host_process_by_pid_finds_no_such_process(box, canary, sentinel):
    doc = run_box(box, "python", "-c", py('''
        import signal
        attempt("kill host pid", os.kill, HOST_PID, signal.SIGKILL)
        attempt("pidfd_open host pid", lambda: os.pidfd_open(HOST_PID))
        attempt("kill -1", os.kill, -1, signal.SIGKILL)
        print("still here")
    ''', HOST_PID=sentinel.pid), canary=canary)
    ok(doc, "kill host pid: ESRCH\npidfd_open host pid: ESRCH\nkill -1: ESRCH\nstill here\n")
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_ptrace_traceme_is_refused_eperm(box, canary):
    doc = run_box(box, "python", "-c", py('''
        _libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        ctypes.set_errno(0)
        r = _libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
        print("traceme:", r, _name(ctypes.get_errno()))
        print([l for l in open("/proc/self/status").read().splitlines()
               if l.startswith("TracerPid")])
    '''), canary=canary)
    ok(doc, "traceme: -1 EPERM\n['TracerPid:\\t0']\n")
    canary.assert_untouched(doc)


def test_ptrace_attach_to_host_process_is_refused_eperm(box, canary, sentinel):
    doc = run_box(box, "python", "-c", py('''
        _libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        for label, req in (("attach", 16), ("seize", 0x4206)):
            ctypes.set_errno(0)
            r = _libc.ptrace(req, HOST_PID, None, None)
            print(f"{label}:", r, _name(ctypes.get_errno()))
    ''', HOST_PID=sentinel.pid), canary=canary)
    ok(doc, "attach: -1 EPERM\nseize: -1 EPERM\n")
    sentinel.assert_alive_and_untraced()
    canary.assert_untouched(doc)


def test_ptrace_attach_to_sibling_process_is_refused_eperm(box, canary):
    doc = run_box(box, "python", "-c", py('''
        import time, signal
        _libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        child = os.fork()
        if child == 0:
            time.sleep(10)
            os._exit(0)
        for label, req in (("attach", 16), ("seize", 0x4206)):
            ctypes.set_errno(0)
            r = _libc.ptrace(req, child, None, None)
            print(f"{label}:", r, _name(ctypes.get_errno()))
        status = open(f"/proc/{child}/status").read().splitlines()
        state = [l.split()[1] for l in status if l.startswith("State")][0]
        print("stopped:", state in "tT", [l for l in status if l.startswith("TracerPid")])
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    '''), canary=canary)
    ok(doc, "attach: -1 EPERM\nseize: -1 EPERM\n"
            "stopped: False ['TracerPid:\\t0']\n")
    canary.assert_untouched(doc)


def test_process_vm_readv_of_sibling_is_refused_eperm(box, canary):
    doc = run_box(box, "python", "-c", py('''
        import time, signal
        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        secret = ctypes.create_string_buffer(b"sibling-secret-" + os.urandom(8).hex().encode())
        child = os.fork()
        if child == 0:
            time.sleep(10)
            os._exit(0)
        buf = ctypes.create_string_buffer(64)
        local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
        remote = iovec(ctypes.cast(secret, ctypes.c_void_p), 64)
        _libc.syscall.restype = ctypes.c_long
        ctypes.set_errno(0)
        r = _libc.syscall(310, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        print("process_vm_readv:", r, _name(ctypes.get_errno()), buf.value == b"")
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    '''), canary=canary)
    ok(doc, "process_vm_readv: -1 EPERM True\n")
    canary.assert_untouched(doc)


def test_pidfd_getfd_from_init_is_refused_eperm(box, canary):
    """Init holds the supervisor's pipes; taking its descriptors must fail."""
    doc = run_box(box, "python", "-c", py('''
        pidfd = os.pidfd_open(1)
        got = []
        for fd in range(0, 64):
            ctypes.set_errno(0)
            r = _libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
            got.append(_name(ctypes.get_errno()) if r == -1 else "GOT")
        print(sorted(set(got)))
    '''), canary=canary)
    ok(doc, "['EPERM']\n")
    canary.assert_untouched(doc)


def _payload_and_init(p, mark):
    """The host pids of a running sandbox's `/bin/sleep <mark>` payload (in a
    list) and of its pid 1, once the payload has started."""
    deadline = time.monotonic() + 10
    while not (found := [pid for pid, cmd in host_processes_with(mark)
                         if cmd.startswith("/bin/sleep")]):
        assert time.monotonic() < deadline and p.poll() is None, "payload never started"
        time.sleep(0.01)
    with open(f"/proc/{found[0]}/stat") as f:
        return found, int(f.read().rsplit(")", 1)[1].split()[1])


def test_sandbox_init_seen_from_the_host_is_the_sealed_memfd_not_agentbox(box):
    """From the host, the sandbox's pid 1 (the parent of the payload) runs
    agentbox-init from a memfd sealed against writing, growing and
    shrinking; no process of the sandbox runs the agentbox binary."""
    mark = unique_sleep_arg()
    p = subprocess.Popen([box.path, "run", "--json", "--timeout", "20", "--", "/bin/sleep", mark],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        found, init = _payload_and_init(p, mark)
        assert os.readlink(f"/proc/{init}/exe") == "/memfd:agentbox-init (deleted)"
        # It holds the message pipe and nothing else: not the caller's stdin,
        # stdout or stderr, not the memfd.
        assert os.listdir(f"/proc/{init}/fd") == ["3"]
        # Execute-only: the exec itself made it non-dumpable.
        assert oct(os.stat(f"/proc/{init}/exe").st_mode & 0o777) == "0o111"
        assert not os.path.samefile(f"/proc/{init}/exe", box.path)
        fd = os.open(f"/proc/{init}/exe", os.O_RDONLY)
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        finally:
            os.close(fd)
        need = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK
        assert seals & need == need, hex(seals)
        # Even the host's root cannot open it for writing while it runs; the
        # seals above refuse any write after that.
        with pytest.raises(OSError) as e:
            os.open(f"/proc/{init}/exe", os.O_WRONLY)
        assert e.value.errno == errno.ETXTBSY
        # The payload ends; agentbox-init reports exactly how.
        os.kill(found[0], signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        doc = json.loads(out)
        assert (doc["status"], doc["signal"], p.returncode) == ("error", "SIGTERM", 143), doc
        assert "sealed_init" in doc["protections"]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _cgroup_paths(pid):
    """{controller: path} from /proc/<pid>/cgroup (v1 lines; "" for v2's)."""
    paths = {}
    for line in open(f"/proc/{pid}/cgroup").read().splitlines():
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            paths[c] = path
    return paths


def _v1_dir(controller, path):
    for line in open("/proc/self/mountinfo"):
        left, right = line.split(" - ", 1)
        f, r = left.split(), right.split()
        if r[0] == "cgroup" and controller in r[2].split(","):
            root = f[3]
            rel = path[len(root):] if root != "/" and path.startswith(root) else path
            return f[4] + rel
    raise AssertionError(f"no v1 {controller} hierarchy")


def test_supervisor_stays_outside_the_sandbox_cgroup_and_pid_namespace(box):
    """Seen from the host while a sandbox runs: its pid 1 is in a group of
    its own (abox-<supervisor pid>-...) below the supervisor's, with the
    limits asked for and swap capped with memory; the supervisor is in
    neither that group nor the sandbox's pid namespace."""
    mark = unique_sleep_arg()
    p = subprocess.Popen([box.path, "run", "--timeout", "20", "--memory", "96m", "--pids", "7",
                          "--", "/bin/sleep", mark], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        found, init = _payload_and_init(p, mark)
        mine, theirs = _cgroup_paths(p.pid), _cgroup_paths(init)
        assert os.readlink(f"/proc/{p.pid}/ns/pid") != os.readlink(f"/proc/{init}/ns/pid")
        v2 = "memory" not in theirs  # no v1 memory hierarchy: a v2 host
        for c in ([""] if v2 else ["memory", "pids"]):
            assert theirs[c] != mine[c], (c, mine, theirs)
            parent, name = theirs[c].rsplit("/", 1)
            assert name.startswith(f"abox-{p.pid}-"), theirs[c]
            # below the supervisor's own group (v2: or its parent, when it
            # moved itself into a leaf; docs/architecture.md)
            assert parent.startswith(mine[c].rsplit("/agentbox-supervisor", 1)[0].rstrip("/")), \
                (parent, mine[c])
            assert parent.endswith("/agentbox"), parent
        if v2:
            d = "/sys/fs/cgroup" + theirs[""]
            assert open(f"{d}/memory.max").read().strip() == str(96 << 20)
            assert open(f"{d}/memory.swap.max").read().strip() == "0"
            assert open(f"{d}/pids.max").read().strip() == "8"
            return
        mem = _v1_dir("memory", theirs["memory"])
        limit = open(f"{mem}/memory.limit_in_bytes").read().strip()
        assert limit == str(96 << 20)
        assert open(f"{mem}/memory.memsw.limit_in_bytes").read().strip() == limit  # swap off
        assert open(f"{_v1_dir('pids', theirs['pids'])}/pids.max").read().strip() == "8"
    finally:
        p.kill()
        p.wait()


def test_caller_ignoring_sigchld_and_sigpipe_changes_nothing_inside(box):
    """Signal dispositions do not cross into the sandbox: an embedding that
    ignores SIGCHLD still gets the payload's exit status and its leftovers
    killed, and an ignored SIGPIPE does not reach the payload."""
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGPIPE, signal.SIG_IGN)\n"
            "os.execv(sys.argv[1], sys.argv[1:])\n")
    mark = unique_sleep_arg()
    script = f"sleep {mark} & grep -E '^SigIgn' /proc/self/status; exit 7"
    p = subprocess.run(["/usr/bin/python3", "-c", code, box.path, "sh", "--json", "-c", script],
                       capture_output=True, timeout=60)
    doc = json.loads(p.stdout)
    assert (doc["status"], doc["exit_code"], p.returncode) == ("error", 7, 7), doc
    assert doc["stdout"] == "SigIgn:\t0000000000000000\n", doc
    assert host_processes_with(mark) == []
