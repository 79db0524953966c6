"""Kernel attack surface: the system calls, ioctls and files that containers
have been escaped through are refused inside (seccomp answers EPERM), and the
process holds no capabilities and cannot gain any.

All arguments below are harmless even if a call were to succeed on the host:
null pointers, bad magic numbers, paths that do not exist there.
"""
import os
import socket

import pytest

from canaries import brief, py, run_box


def ok(doc, stdout):
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["_exit"]) == \
        ("success", None, 0, 0), brief(doc)
    assert doc["stdout"] == stdout, brief(doc)


def host_mounts():
    with open("/proc/self/mountinfo") as f:
        return f.read()


def test_tiocsti_injection_is_refused_eperm_and_host_tty_gets_nothing(box, canary):
    master, slave = os.openpty()
    try:
        doc = run_box(box, "python", "-c", py('''
            import fcntl, termios
            attempt("stdin", fcntl.ioctl, 0, termios.TIOCSTI, b"x")
            m, s = os.openpty()
            attempt("own pty", fcntl.ioctl, s, termios.TIOCSTI, b"x")
            os.set_blocking(s, False)
            attempt("own pty read", os.read, s, 16)
        '''), canary=canary, stdin=slave)
        os.set_blocking(slave, False)
        try:
            injected = os.read(slave, 4096)
        except BlockingIOError:
            injected = b""
    finally:
        os.close(master)
        os.close(slave)
    ok(doc, "stdin: EPERM\nown pty: EPERM\nown pty read: EAGAIN\n")
    assert injected == b""
    canary.assert_untouched(doc)


def test_host_pty_is_not_reachable_through_dev_pts(box, canary):
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        doc = run_box(box, "python", "-c", py('''
            print(sorted(os.listdir("/dev/pts")))
            attempt("open host pty", os.open, PTY, os.O_RDWR | os.O_NOCTTY)
        ''', PTY=name), canary=canary)
        os.set_blocking(master, False)
        try:
            written = os.read(master, 4096)
        except BlockingIOError:
            written = b""
    finally:
        os.close(master)
        os.close(slave)
    ok(doc, "['ptmx']\nopen host pty: ENOENT\n")
    assert written == b""
    canary.assert_untouched(doc)


def test_mount_tmpfs_over_planted_host_path_is_refused_eperm(box, canary):
    target = canary.tmp_dir / "mnt"
    target.mkdir()
    (target / "keep").write_text("still here\n")
    canary.watch_tree(canary.tmp_dir)
    before = host_mounts()
    doc = run_box(box, "python", "-c", py('''
        os.makedirs(T, exist_ok=True)
        _libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
        ctypes.set_errno(0)
        r = _libc.mount(b"none", T.encode(), b"tmpfs", 0, None)
        print("mount tmpfs:", r, _name(ctypes.get_errno()))
        ctypes.set_errno(0)
        r = _libc.mount(b"/usr", T.encode(), None, 0x1000, None)  # MS_BIND
        print("bind mount:", r, _name(ctypes.get_errno()))
        ctypes.set_errno(0)
        r = _libc.mount(None, b"/", None, 0x20 | 0x1000 | 0x4000, None)  # remount rw
        print("remount /:", r, _name(ctypes.get_errno()))
    ''', T=str(target)), canary=canary)
    ok(doc, "mount tmpfs: -1 EPERM\nbind mount: -1 EPERM\nremount /: -1 EPERM\n")
    assert host_mounts() == before
    assert (target / "keep").read_text() == "still here\n"
    canary.assert_untouched(doc)


# (name, syscall number on x86_64, arguments): each must fail with EPERM.
REFUSED = [
    ("umount2", 166, (b"/tmp", 2)),
    ("pivot_root", 155, (b"/tmp", b"/tmp")),
    ("chroot", 161, (b"/tmp",)),
    ("fsopen", 430, (b"tmpfs", 0)),
    ("open_tree", 428, (-100, b"/tmp", 1)),
    ("move_mount", 429, (-100, b"/tmp", -100, b"/workspace", 0)),
    ("mount_setattr", 442, (-100, b"/tmp", 0, None, 0)),
    ("setns", 308, (0, 0)),
    ("keyctl", 250, (0, 0)),
    ("add_key", 248, (b"user", b"agentbox-sec", b"x", 1, -3)),
    ("request_key", 249, (b"user", b"agentbox-sec", None, 0)),
    ("bpf", 321, (0, None, 0)),
    ("io_uring_setup", 425, (1, None)),
    ("perf_event_open", 298, (None, 0, -1, -1, 0)),
    ("userfaultfd", 323, (0,)),
    ("open_by_handle_at", 304, (-100, None, 0)),
    ("name_to_handle_at", 303, (-100, b"/tmp", None, None, 0)),
    ("kexec_load", 246, (0, 0, None, 0)),
    ("init_module", 175, (None, 0, b"")),
    ("finit_module", 313, (-1, b"", 0)),
    ("delete_module", 176, (b"agentbox_sec_none", 0)),
    ("acct", 163, (None,)),
    ("swapon", 167, (b"/nonexistent-agentbox-sec", 0)),
    ("reboot", 169, (0, 0, 0, None)),
    ("settimeofday", 164, (None, None)),
    ("clock_settime", 227, (0, None)),
    ("syslog", 103, (3, None, 0)),
    ("iopl", 172, (0,)),
    ("ioperm", 173, (0, 0, 0)),
    ("kcmp", 312, (1, 1, 0, 0, 0)),
    ("quotactl", 179, (0, None, 0, None)),
    ("fanotify_init", 300, (0, 0)),
    ("vhangup", 153, ()),
    ("sethostname", 170, (b"agentbox-sec", 12)),
    ("setdomainname", 171, (b"agentbox-sec", 12)),
    ("personality_read_implies_exec", 135, (0x0400000,)),
    ("ptrace_peekdata", 101, (2, 1, None, None)),
    ("process_vm_writev", 311, (1, None, 0, None, 0, 0)),
]


@pytest.mark.parametrize("name,nr,args", REFUSED, ids=[r[0] for r in REFUSED])
def test_dangerous_syscall_is_refused_eperm(box, canary, name, nr, args):
    host_name = socket.gethostname()
    before = host_mounts()
    doc = run_box(box, "python", "-c", py('''
        raw_syscall(NAME, NR, *ARGS)
    ''', NAME=name, NR=nr, ARGS=args), canary=canary)
    ok(doc, f"{name}: EPERM\n")
    assert socket.gethostname() == host_name
    assert host_mounts() == before
    canary.assert_untouched(doc)


def test_unshare_new_user_namespace_is_refused_eperm(box, canary):
    doc = run_box(box, "python", "-c", py('''
        ns = os.readlink("/proc/self/ns/user")
        for label, flags in (("user", 0x10000000), ("mount", 0x00020000), ("net", 0x40000000),
                             ("pid", 0x20000000), ("cgroup", 0x02000000), ("time", 0x80)):
            ctypes.set_errno(0)
            r = _libc.unshare(flags)
            print(f"unshare {label}:", r, _name(ctypes.get_errno()))
        # clone(CLONE_NEWUSER | SIGCHLD) straight, bypassing unshare(2)
        raw_syscall("clone newuser", 56, 0x10000000 | 17, None, None, None, 0)
        print(os.readlink("/proc/self/ns/user") == ns)
    '''), canary=canary)
    ok(doc, "unshare user: -1 EPERM\nunshare mount: -1 EPERM\nunshare net: -1 EPERM\n"
            "unshare pid: -1 EPERM\nunshare cgroup: -1 EPERM\nunshare time: -1 EPERM\n"
            "clone newuser: EPERM\nTrue\n")
    canary.assert_untouched(doc)


def test_int80_32bit_syscall_is_refused_eperm(box, canary):
    """i386 write(1, MARK) and getpid() through `int 0x80` from a page mapped
    below 4 GiB; the 32-bit entry must be refused whatever the call."""
    mark = "int80mark" + os.urandom(6).hex()
    doc = run_box(box, "python", "-c", py('''
        import struct
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.c_long]
        page = _libc.mmap(None, 4096, 7, 0x22 | 0x40, -1, 0)  # RWX, private anon 32-bit
        assert page < (1 << 32), hex(page)
        msg = MARK.encode() + b"\\n"
        write = (b"\\x53"                                   # push rbx
                 b"\\xb8\\x04\\x00\\x00\\x00"                  # mov eax, 4 (write)
                 b"\\xbb\\x01\\x00\\x00\\x00"                  # mov ebx, 1
                 b"\\xb9" + struct.pack("<I", page + 256) +  # mov ecx, msg
                 b"\\xba" + struct.pack("<I", len(msg)) +    # mov edx, len
                 b"\\xcd\\x80"                              # int 0x80
                 b"\\x5b\\xc3")                             # pop rbx; ret
        getpid = b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3"    # mov eax, 20; int 0x80; ret
        ctypes.memmove(page, write, len(write))
        ctypes.memmove(page + 128, getpid, len(getpid))
        ctypes.memmove(page + 256, msg, len(msg))
        sys.stdout.flush()
        r1 = ctypes.CFUNCTYPE(ctypes.c_int)(page)()
        r2 = ctypes.CFUNCTYPE(ctypes.c_int)(page + 128)()
        print("int80 write:", r1, "getpid:", r2, "errno EPERM is", -errno.EPERM)
    ''', MARK=mark), canary=canary)
    ok(doc, "int80 write: -1 getpid: -1 errno EPERM is -1\n")
    assert mark not in doc["stdout"]
    canary.assert_untouched(doc)


def test_x32_syscall_is_refused_eperm(box, canary):
    mark = "x32mark" + os.urandom(6).hex()
    doc = run_box(box, "python", "-c", py('''
        msg = MARK.encode() + b"\\n"
        sys.stdout.flush()
        raw_syscall("x32 write", 0x40000000 | 1, 1, msg, len(msg))
        raw_syscall("x32 getpid", 0x40000000 | 39)
    ''', MARK=mark), canary=canary)
    ok(doc, "x32 write: EPERM\nx32 getpid: EPERM\n")
    assert mark not in doc["stdout"]
    canary.assert_untouched(doc)


def test_no_capabilities_and_dac_override_is_refused(box, canary):
    doc = run_box(box, "python", "-c", py('''
        for line in open("/proc/self/status"):
            if line.startswith("Cap"):
                print(line.strip())
        with open("/tmp/locked", "w") as f:
            f.write("x")
        os.chmod("/tmp/locked", 0)
        attempt("read mode-000 file", lambda: open("/tmp/locked").read())
        attempt("chown to 1001", os.chown, "/tmp/locked", 1001, 1001)
        attempt("raise priority", os.setpriority, os.PRIO_PROCESS, 0, -5)
        big = (ctypes.c_ulong * 2)(1 << 20, 1 << 20)
        raw_syscall("raise nofile hard limit", 160, 7, big)  # setrlimit(RLIMIT_NOFILE)
    '''), canary=canary)
    ok(doc, "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
            "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
            "CapAmb:\t0000000000000000\n"
            "read mode-000 file: EACCES\nchown to 1001: EINVAL\nraise priority: EACCES\n"
            "raise nofile hard limit: EPERM\n")
    canary.assert_untouched(doc)


def test_seccomp_mode_2_and_no_new_privs_cannot_be_lifted(box, canary):
    doc = run_box(box, "python", "-c", py('''
        for line in open("/proc/self/status"):
            if line.startswith(("NoNewPrivs", "Seccomp:")):
                print(line.strip())
        _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                                ctypes.c_ulong]
        ctypes.set_errno(0)
        r = _libc.prctl(38, 0, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS 0
        print("clear no_new_privs:", r, _name(ctypes.get_errno()))
        print("PR_GET_NO_NEW_PRIVS:", _libc.prctl(39, 0, 0, 0, 0))
        print("PR_GET_SECCOMP:", _libc.prctl(21, 0, 0, 0, 0))
    '''), canary=canary)
    ok(doc, "NoNewPrivs:\t1\nSeccomp:\t2\nclear no_new_privs: -1 EINVAL\n"
            "PR_GET_NO_NEW_PRIVS: 1\nPR_GET_SECCOMP: 2\n")
    canary.assert_untouched(doc)


def test_mknod_device_node_of_host_disk_is_refused(box, canary):
    disk = os.stat("/").st_dev
    doc = run_box(box, "python", "-c", py('''
        import stat
        attempt("block in /tmp", os.mknod, "/tmp/disk", stat.S_IFBLK | 0o666, DEV)
        attempt("char mem in /tmp", os.mknod, "/tmp/mem", stat.S_IFCHR | 0o666, os.makedev(1, 1))
        attempt("block in /dev", os.mknod, "/dev/disk", stat.S_IFBLK | 0o666, DEV)
        print(sorted(os.listdir("/tmp")))
    ''', DEV=disk), canary=canary)
    assert doc["stdout"] in (
        "block in /tmp: EACCES\nchar mem in /tmp: EACCES\nblock in /dev: EACCES\n[]\n",
        "block in /tmp: EPERM\nchar mem in /tmp: EPERM\nblock in /dev: EPERM\n[]\n",
        "block in /tmp: EACCES\nchar mem in /tmp: EACCES\nblock in /dev: EROFS\n[]\n",
        "block in /tmp: EPERM\nchar mem in /tmp: EPERM\nblock in /dev: EROFS\n[]\n"), brief(doc)
    ok(doc, doc["stdout"])
    canary.assert_untouched(doc)


def test_host_devices_and_sysfs_are_absent(box, canary):
    doc = run_box(box, "python", "-c", py('''
        print(sorted(os.listdir("/dev")))
        for p in ("/dev/vda", "/dev/sda", "/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg",
                  "/dev/tty", "/dev/console", "/dev/fuse", "/dev/net/tun", "/sys"):
            attempt(p, os.stat, p)
    '''), canary=canary)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    first, *rest = doc["stdout"].splitlines()
    assert set(eval(first)) <= {"null", "zero", "full", "random", "urandom", "pts", "ptmx",
                                "shm", "fd", "stdin", "stdout", "stderr", "tty"}, brief(doc)
    expected = ["/dev/vda: ENOENT", "/dev/sda: ENOENT", "/dev/mem: ENOENT", "/dev/kmem: ENOENT",
                "/dev/port: ENOENT", "/dev/kmsg: ENOENT", "/dev/tty: ENOENT",
                "/dev/console: ENOENT", "/dev/fuse: ENOENT", "/dev/net/tun: ENOENT",
                "/sys: ENOENT"]
    assert rest == expected, brief(doc)
    canary.assert_untouched(doc)


def test_kernel_memory_and_log_files_in_proc_are_refused(box, canary):
    doc = run_box(box, "python", "-c", py('''
        for p in ("/proc/kcore", "/proc/kmsg", "/proc/sysrq-trigger"):
            attempt(p, lambda: open(p, "rb").read(1))
        addrs = {l.split()[0] for l in open("/proc/kallsyms")}
        print("kallsyms addresses:", addrs)
    '''), canary=canary)
    assert doc["stdout"] in (
        "/proc/kcore: ENOENT\n/proc/kmsg: EACCES\n/proc/sysrq-trigger: ENOENT\n"
        "kallsyms addresses: {'0000000000000000'}\n",
        "/proc/kcore: ENOENT\n/proc/kmsg: ENOENT\n/proc/sysrq-trigger: ENOENT\n"
        "kallsyms addresses: {'0000000000000000'}\n"), brief(doc)
    ok(doc, doc["stdout"])
    canary.assert_untouched(doc)


def test_write_core_pattern_is_refused_and_host_value_unchanged(box, canary):
    """core_pattern is global: a pipe there runs a program as host root."""
    paths = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/poweroff_cmd")
    before = [open(p).read() for p in paths]
    try:
        doc = run_box(box, "python", "-c", py('''
            attempt("core_pattern", lambda: open("/proc/sys/kernel/core_pattern", "w")
                    .write("|/tmp/agentbox-sec-not-there"))
            attempt("poweroff_cmd", lambda: open("/proc/sys/kernel/poweroff_cmd", "w")
                    .write("/tmp/agentbox-sec-not-there"))
        '''), canary=canary)
        after = [open(p).read() for p in paths]
    finally:
        for p, value in zip(paths, before):
            if open(p).read() != value:  # undo an escape before anything crashes
                with open(p, "w") as f:
                    f.write(value)
    ok(doc, "core_pattern: EROFS\npoweroff_cmd: EROFS\n")
    assert after == before
    canary.assert_untouched(doc)
