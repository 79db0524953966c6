"""Host files: nothing of the host that was not given can be read or changed,
and nothing written inside can be executed."""
import hashlib
import os
import pathlib
import secrets
import shutil
import tempfile

import pytest

from canaries import READ, brief, file_digest, ok, py, run_box

HOST_PYTHON = os.path.realpath("/usr/bin/python3")




def test_read_etc_shadow_finds_no_such_file(box, canary):
    shadow_root = pathlib.Path("/etc/shadow").read_text().splitlines()[0]
    doc = run_box(box, "python", "-c", py(READ, 'read("shadow", "/etc/shadow")'),
                  canary=canary)
    ok(doc, "shadow: ENOENT\n")
    assert shadow_root.encode().hex() not in doc["stdout"]
    canary.assert_untouched(doc)


def test_etc_holds_only_the_few_files_programs_need(box):
    # The interpreter's version, as /usr/bin/python3 names it, gets the
    # empty sitecustomize.py that spares Debian's Python a sys.path search.
    version = os.path.basename(os.readlink("/usr/bin/python3"))
    given = {"passwd", "group", "hosts", "hostname", "nsswitch.conf", "ld.so.cache", "ssl",
             "alternatives", "localtime", version}
    r = box.json("sh", "-c", "ls -A /etc; stat -c '%s' /etc/" + version + "/sitecustomize.py; "
                 "ls -A /etc/" + version + "; sha256sum < /etc/ld.so.cache")
    assert r["status"] == "success", r
    lines = r["stdout"].splitlines()
    listed = set(lines[:-3])
    assert listed <= given, listed - given
    assert {"passwd", "group", "hosts", "ld.so.cache", version} <= listed, listed
    assert lines[-3:-1] == ["0", "sitecustomize.py"], lines
    # The loader's cache is the host's, byte for byte (copied in the kernel).
    host = hashlib.sha256(pathlib.Path("/etc/ld.so.cache").read_bytes()).hexdigest()
    assert lines[-1].split()[0] == host


def test_mount_table_is_the_built_root_and_nothing_of_the_hosts(box):
    # pivot_root, and the old root unmounted: what the sandbox sees mounted
    # is exactly what agentbox built (plus /usr's own submounts, if the host
    # has any, and the /etc directories it has).
    host_usr_subs = {line.split()[4] for line in open("/proc/self/mountinfo")
                     if line.split()[4].startswith("/usr/")}
    built = {"/", "/usr", "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
             "/dev/urandom", "/dev/pts", "/dev/shm", "/proc", "/proc/sys", "/tmp", "/workspace"}
    optional = {"/etc/ssl", "/etc/alternatives"} | host_usr_subs
    r = box.json("run", "--", "/bin/cat", "/proc/self/mountinfo")
    assert r["status"] == "success", r
    points = {line.split()[4] for line in r["stdout"].splitlines()}
    assert built <= points, built - points
    assert points <= built | optional, points - built - optional
    # The root is the sandbox's own tmpfs, read-only; /usr read-only too.
    fields = {line.split()[4]: line.split() for line in r["stdout"].splitlines()}
    root = fields["/"]
    assert root[root.index("-") + 1] == "tmpfs" and root[5].startswith("ro"), root
    assert fields["/usr"][5].startswith("ro"), fields["/usr"]


def test_read_planted_host_file_in_tmp_finds_no_such_file(box, canary):
    doc = run_box(box, "python", "-c",
                  py(READ, 'read("tmp", P); read("dir", os.path.dirname(P))',
                     P=str(canary.tmp_file)),
                  canary=canary)
    ok(doc, "tmp: ENOENT\ndir: ENOENT\n")
    assert canary.file_token.encode().hex() not in doc["stdout"]
    canary.assert_untouched(doc)


def test_read_planted_host_file_in_root_home_finds_no_such_file(box, canary):
    doc = run_box(box, "python", "-c",
                  py(READ, 'read("file", P)\nattempt("listdir /root", os.listdir, "/root")',
                     P=str(canary.root_file)),
                  canary=canary)
    ok(doc, "file: ENOENT\nlistdir /root: ENOENT\n")
    assert canary.root_token.encode().hex() not in doc["stdout"]
    canary.assert_untouched(doc)


def test_read_planted_host_file_through_proc_root_links_finds_no_such_file(box, canary):
    # /proc/self/root is the sandbox's root; /proc/1 (init) is hidden.
    doc = run_box(box, "python", "-c",
                  py(READ, 'read("self", "/proc/self/root" + P)\nread("init", "/proc/1/root" + P)',
                     P=str(canary.tmp_file)),
                  canary=canary)
    ok(doc, "self: ENOENT\ninit: ENOENT\n")
    canary.assert_untouched(doc)


def test_read_root_only_file_on_readonly_mount_is_denied_eacces(box, canary):
    """Uid 0 inside would read a 0600 root file; the sandbox user may not."""
    d = canary.tmp_dir / "rootonly"
    d.mkdir(mode=0o755)
    secret = d / "key.txt"
    secret.write_text(canary.file_token)
    os.chmod(secret, 0o600)
    canary.watch_tree(d)
    doc = run_box(box, "python", "--mount", f"{d}:/mnt/rootonly", "-c",
                  py(READ, 'print(sorted(os.listdir("/mnt/rootonly")))\n'
                     'read("key", "/mnt/rootonly/key.txt")'),
                  canary=canary)
    ok(doc, "['key.txt']\nkey: EACCES\n")
    canary.assert_untouched(doc)


WRITE = '''
def write(label, path):
    try:
        with open(path, "ab") as f:
            f.write(b"sandbox was here\\n")
    except OSError as e:
        print(f"{label}: {_name(e.errno)}")
    else:
        print(f"{label}: WROTE")
'''


def test_write_new_file_in_usr_is_denied(box, canary):
    name = "agentbox-sec-" + secrets.token_hex(8)
    doc = run_box(box, "python", "-c",
                  py(WRITE, 'write("usr", "/usr/" + N)\nwrite("usrbin", "/usr/bin/" + N)', N=name),
                  canary=canary)
    # Landlock (EACCES) answers before the read-only bind (EROFS) is reached.
    assert doc["stdout"] in ("usr: EACCES\nusrbin: EACCES\n", "usr: EROFS\nusrbin: EROFS\n"), \
        brief(doc)
    ok(doc, doc["stdout"])
    assert not os.path.exists("/usr/" + name) and not os.path.exists("/usr/bin/" + name)
    canary.assert_untouched(doc)


def test_append_to_host_python_binary_is_denied_and_binary_unchanged(box, canary):
    before = file_digest(HOST_PYTHON)
    doc = run_box(box, "python", "-c", py(WRITE, 'write("python", "/usr/bin/python3")'),
                  canary=canary)
    assert doc["stdout"] in ("python: EACCES\n", "python: EROFS\n", "python: ETXTBSY\n"), brief(doc)
    ok(doc, doc["stdout"])
    assert file_digest(HOST_PYTHON) == before
    canary.assert_untouched(doc)


def test_write_into_etc_is_refused_read_only(box, canary):
    name = "agentbox-sec-" + secrets.token_hex(8)
    passwd = file_digest("/etc/passwd")
    doc = run_box(box, "python", "-c",
                  py(WRITE, 'write("new", "/etc/" + N)\nwrite("passwd", "/etc/passwd")\n'
                     'write("hosts", "/etc/hosts")', N=name),
                  canary=canary)
    ok(doc, "new: EROFS\npasswd: EROFS\nhosts: EROFS\n")
    assert not os.path.exists("/etc/" + name)
    assert file_digest("/etc/passwd") == passwd
    canary.assert_untouched(doc)


def test_write_into_root_directory_is_refused_read_only(box, canary):
    name = "agentbox-sec-" + secrets.token_hex(8)
    doc = run_box(box, "python", "-c",
                  py(WRITE, 'write("root", "/" + N)\nattempt("mkdir", os.mkdir, "/d" + N)', N=name),
                  canary=canary)
    ok(doc, "root: EROFS\nmkdir: EROFS\n")
    assert not os.path.exists("/" + name) and not os.path.exists("/d" + name)
    canary.assert_untouched(doc)


def test_write_to_mount_without_rw_is_refused_read_only_and_host_unchanged(box, canary):
    # World-writable on the host: only the read-only bind stands in the way.
    d = canary.tmp_dir / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    f = d / "data.txt"
    f.write_text("original\n")
    os.chmod(f, 0o666)
    canary.watch_tree(d)
    doc = run_box(box, "python", "--mount", f"{d}:/mnt/shared", "-c", py(WRITE, '''
        print(open("/mnt/shared/data.txt").read(), end="")
        write("append", "/mnt/shared/data.txt")
        write("create", "/mnt/shared/new.txt")
        attempt("unlink", os.unlink, "/mnt/shared/data.txt")
        attempt("rename", os.rename, "/mnt/shared/data.txt", "/mnt/shared/moved.txt")
        attempt("chmod", os.chmod, "/mnt/shared/data.txt", 0o777)
        attempt("truncate", os.truncate, "/mnt/shared/data.txt", 0)
        attempt("mkdir", os.mkdir, "/mnt/shared/sub")
        attempt("utime", os.utime, "/mnt/shared/data.txt", (0, 0))
    '''), canary=canary)
    ok(doc, "original\nappend: EROFS\ncreate: EROFS\nunlink: EROFS\nrename: EROFS\n"
            "chmod: EROFS\ntruncate: EROFS\nmkdir: EROFS\nutime: EROFS\n")
    assert sorted(os.listdir(d)) == ["data.txt"]
    canary.assert_untouched(doc)


def test_append_to_planted_host_path_finds_no_such_file(box, canary):
    doc = run_box(box, "python", "-c", py(WRITE, 'write("host", P)', P=str(canary.tmp_file)),
                  canary=canary)
    ok(doc, "host: ENOENT\n")
    canary.assert_untouched(doc)


def test_write_planted_host_path_lands_in_private_tmp_and_host_file_unchanged(box, canary):
    doc = run_box(box, "python", "-c", py('''
        os.makedirs(os.path.dirname(P), exist_ok=True)
        with open(P, "w") as f:
            f.write("overwritten by the sandbox\\n")
        print(open(P).read(), end="")
    ''', P=str(canary.tmp_file)), canary=canary)
    ok(doc, "overwritten by the sandbox\n")
    assert canary.tmp_file.read_text() == f"host secret {canary.file_token}\n"
    canary.assert_untouched(doc)


def test_symlink_to_host_path_in_private_tmp_does_not_reach_host(box, canary):
    doc = run_box(box, "python", "-c", py(READ, WRITE, '''
        os.symlink(P, "/tmp/link")
        read("read", "/tmp/link")
        write("write", "/tmp/link")
        print(os.path.exists(P))
    ''', P=str(canary.root_file)), canary=canary)
    # Writing through the dangling link needs /root, which does not exist.
    ok(doc, "read: ENOENT\nwrite: ENOENT\nFalse\n")
    canary.assert_untouched(doc)


def test_open_proc_self_exe_for_writing_is_denied_and_host_python_unchanged(box, canary):
    """CVE-2019-5736 shape: rewrite the interpreter through /proc/self/exe."""
    before = file_digest(HOST_PYTHON)
    doc = run_box(box, "python", "-c", py('''
        attempt("wronly", os.open, "/proc/self/exe", os.O_WRONLY)
        attempt("rdwr", os.open, "/proc/self/exe", os.O_RDWR)
        fd = os.open("/proc/self/exe", os.O_PATH)
        attempt("reopen", os.open, f"/proc/self/fd/{fd}", os.O_WRONLY)
    '''), canary=canary)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    lines = doc["stdout"].splitlines()
    assert [l.split(": ")[0] for l in lines] == ["wronly", "rdwr", "reopen"], brief(doc)
    assert all(l.split(": ")[1] in ("EACCES", "ETXTBSY", "EROFS") for l in lines), brief(doc)
    assert file_digest(HOST_PYTHON) == before
    canary.assert_untouched(doc)


def test_no_process_in_the_sandbox_runs_agentbox_and_launcher_unchanged(box, canary):
    """CVE-2019-5736 shape: look for any process in the sandbox whose
    /proc/PID/exe is the agentbox binary (the way back to a host binary),
    and try to open pid 1's and the parent's executable for writing.

    pid 1 is agentbox-init from a sealed memfd, and non-dumpable, so it is not
    even visible; no other process runs agentbox.  The launcher used here is a
    private copy of the binary, so its identity and hash are reliable canaries."""
    launcher = canary.tmp_dir / "agentbox"
    shutil.copy2(box.path, launcher)
    before = file_digest(launcher)
    st = launcher.stat()
    canary.watch_tree(canary.tmp_dir)
    doc = run_box(box, "python", "-c", py('''
        import subprocess
        helper = subprocess.Popen(["/bin/sleep", "30"])
        found = []
        for pid in ["1"] + sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
            try:
                s = os.stat(f"/proc/{pid}/exe")
            except OSError as e:
                found.append(f"{pid}={_name(e.errno)}")
                continue
            found.append(f"{pid}=" + ("AGENTBOX" if (s.st_dev, s.st_ino) == (DEV, INO) else "other"))
        print(" ".join(found))
        attempt("pid 1 exe", os.open, "/proc/1/exe", os.O_WRONLY)
        attempt("parent exe", os.open, f"/proc/{os.getppid()}/exe", os.O_WRONLY)
        helper.kill()
    ''', DEV=st.st_dev, INO=st.st_ino), canary=canary, binary=str(launcher))
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    seen, pid1, parent = doc["stdout"].splitlines()
    assert seen.split() == ["1=ENOENT", "2=other", "3=other"], brief(doc)
    assert (pid1, parent) == ("pid 1 exe: ENOENT", "parent exe: ENOENT"), brief(doc)
    assert "sealed_init" in doc["protections"], brief(doc)
    assert file_digest(launcher) == before
    canary.assert_untouched(doc)


EXEC = '''
import shutil, subprocess, stat
def try_exec(label, path):
    try:
        p = subprocess.run([path, MARK], capture_output=True, timeout=5)
    except OSError as e:
        print(f"{label}: {_name(e.errno)}")
    else:
        print(f"{label}: RAN {p.returncode} {p.stdout.hex()}")
'''


@pytest.mark.parametrize("where", ["/tmp", "/workspace", "/dev/shm"])
def test_execute_binary_written_to_writable_dir_is_denied_eacces(box, canary, where):
    mark = "execmark" + secrets.token_hex(8)
    doc = run_box(box, "python", "-c", py(EXEC, '''
        shutil.copy("/usr/bin/echo", W + "/echo")
        os.chmod(W + "/echo", 0o755)
        try_exec("elf", W + "/echo")
        with open(W + "/script.sh", "w") as f:
            f.write("#!/bin/sh\\necho \\"$1\\"\\n")
        os.chmod(W + "/script.sh", 0o755)
        try_exec("script", W + "/script.sh")
    ''', W=where, MARK=mark), canary=canary)
    ok(doc, "elf: EACCES\nscript: EACCES\n")
    assert mark.encode().hex() not in doc["stdout"]
    canary.assert_untouched(doc)


def test_execute_binary_from_rw_mount_is_denied_eacces(box, canary):
    # Writable by design, so kept apart from the canary tree.
    d = pathlib.Path(tempfile.mkdtemp(prefix="agentbox-sec-rw-", dir="/tmp"))
    try:
        os.chmod(d, 0o777)
        mark = "execmark" + secrets.token_hex(8)
        doc = run_box(box, "python", "--mount", f"{d}:/mnt/rw:rw", "-c", py(EXEC, '''
            shutil.copy("/usr/bin/echo", "/mnt/rw/echo")
            os.chmod("/mnt/rw/echo", 0o755)
            try_exec("elf", "/mnt/rw/echo")
        ''', MARK=mark), canary=canary)
        assert (d / "echo").exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    ok(doc, "elf: EACCES\n")
    assert mark.encode().hex() not in doc["stdout"]
    canary.assert_untouched(doc)


def test_execute_tmp_binary_through_dynamic_loader_is_refused(box, canary):
    """ld.so is an allowed program; the binary it would map lives in /tmp."""
    mark = "execmark" + secrets.token_hex(8)
    doc = run_box(box, "python", "-c", py(EXEC, '''
        shutil.copy("/usr/bin/echo", "/tmp/echo")
        p = subprocess.run(["/lib64/ld-linux-x86-64.so.2", "/tmp/echo", MARK],
                           capture_output=True, timeout=5)
        print(p.returncode, MARK in p.stdout.decode())
    ''', MARK=mark), canary=canary)
    ok(doc, "127 False\n")
    assert mark not in doc["stdout"]
    canary.assert_untouched(doc)


def test_execute_memfd_binary_is_refused_eacces(box, canary):
    mark = "execmark" + secrets.token_hex(8)
    doc = run_box(box, "python", "-c", py(EXEC, '''
        fd = os.memfd_create("payload", 0)
        os.write(fd, open("/usr/bin/echo", "rb").read())
        try:
            p = subprocess.run([f"/proc/self/fd/{fd}", MARK], capture_output=True, pass_fds=(fd,),
                               timeout=5)
        except OSError as e:
            print("exec path:", _name(e.errno))
        else:
            print("exec path: RAN", p.stdout.hex())
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                os.execve(fd, ["echo", MARK], {})
            except OSError as e:
                print("fexecve:", _name(e.errno), flush=True)
            os._exit(3)
        print("child:", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    ''', MARK=mark), canary=canary)
    ok(doc, "exec path: EACCES\nfexecve: EACCES\nchild: 3\n")
    assert mark not in doc["stdout"]
    canary.assert_untouched(doc)
