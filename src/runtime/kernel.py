# agentbox's Python kernel: runs cells of user code the way a notebook does.
#
# It runs inside the sandbox, in one of two modes (argv[1]):
#   cell     one-shot: the code arrives on fd 3 (a sealed memfd), the outcome
#            leaves as one JSON object on fd 4; stdout and stderr are the user's.
#   session  a loop on fd 3, a unix socket to the supervisor.  Each order is
#            b"p" (Python) or b"s" (a shell command) with four fds: the code
#            (sealed memfd), stdout, stderr and the report pipe.  The cell runs
#            with those as fds 1 and 2, its JSON report goes to the pipe, and
#            b"d<status>" on the socket says it is over.  Variables persist
#            between cells; at start the kernel imports the policy's
#            python_preload modules and sends b"h" with a pidfd of itself,
#            which the supervisor interrupts (SIGINT) and kills by — or
#            b"e<why>" if a preload failed, and exits.
# Tracebacks are cut to the user's frames ("<cell>"), so they point at the
# user's lines and never at this file.  Nothing here is a security boundary:
# the jail around the interpreter is.
#
# Start-up time is the product here, so only C-level modules are imported up
# front (_json loads in microseconds; ast and json take milliseconds), and
# traceback and linecache only when there is an error to format.  _ast costs
# 0.7 ms, but CPython 3.11 builds its node types at the first compile() of
# any kind, so it is paid here, while a pooled sandbox waits, and not in the
# first cell: compiling a one-expression cell in "eval" mode saves nothing.
import _ast
import os
import sys

CELL = "<cell>"


def _quote(text):
    try:
        import _json
    except ImportError:
        # No module can be loaded (the code took every descriptor): escape
        # by hand what JSON requires.
        return '"%s"' % "".join(
            c if c >= " " and c not in '"\\' else "\\u%04x" % ord(c) for c in text)
    return _json.encode_basestring(text)


def _user_traceback(exc, source):
    import linecache
    import traceback

    text = source.decode("utf-8", "replace")
    linecache.cache[CELL] = (len(text), None, text.splitlines(True), CELL)
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != CELL:
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) or tb is None:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _load_policy(spec):
    """kernel_policy.py, compiled only when the policy has module rules."""
    ns = {"__name__": "agentbox_policy", "__builtins__": __builtins__,
          "__file__": "<agentbox-policy>"}
    with open("/etc/agentbox/policy.py", "rb") as f:
        code = f.read()
    exec(compile(code, "<agentbox-policy>", "exec"), ns)
    return ns["make_checker"](spec)


_CONTINUATION = "unexpected character after line continuation character"


def _typed_newlines(source, err):
    """The cell with each backslash-n that stands between statements read
    as the newline it was meant to be (a shell's -c 'a = 1\\nb = 2' without
    $'...'), if that makes it compile; else None.  Outside a string a
    backslash may only end a line, so only code that is a syntax error as
    written changes, and only where Python itself stopped."""
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for _ in range(200):
        if err.msg != _CONTINUATION or not err.text or not err.lineno or not err.offset:
            return None
        # err.text holds the statement's lines up to the error, and offset
        # counts from its start: find where that is in the cell.
        first = err.lineno - err.text[:err.offset - 1].count("\n")
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        if not 1 <= first <= len(starts):
            return None
        pos = starts[first - 1] + err.offset - 1
        if text[pos - 1:pos + 1] != "\\n":
            return None
        text = text[:pos - 1] + "\n" + text[pos + 1:]
        try:
            compile(text, CELL, "exec", _ast.PyCF_ONLY_AST)
            return text.encode("utf-8")
        except SyntaxError as e:
            err = e
    return None


def _run(source, ns, checker, state):
    try:
        tree = compile(source, CELL, "exec", _ast.PyCF_ONLY_AST)
    except SyntaxError as e:
        fixed = _typed_newlines(source, e)
        if fixed is None:
            raise
        state["source"] = source = fixed
        tree = compile(source, CELL, "exec", _ast.PyCF_ONLY_AST)
    if checker is not None:
        # Kept in `state` before anything runs: the user's code may raise
        # after a refused import, and that refusal must still be reported.
        state["policy"] = checker(tree)
        if state["policy"].violations:
            return None
    last = None
    if tree.body and isinstance(tree.body[-1], _ast.Expr):
        last = _ast.Expression(tree.body.pop().value)
    exec(compile(tree, CELL, "exec"), ns)
    if last is not None:
        value = eval(compile(last, CELL, "eval"), ns)
        if value is not None:
            return repr(value)
    return None


def _violations_json(policy):
    return '"violations":[%s]' % ",".join(
        '{"rule":%s,"target":%s,"detail":%s}' % (_quote(rule), _quote(t), _quote(d))
        for t, d, rule in policy.violations)


def _cell(source, ns, checker, max_value):
    """Runs one cell; returns its exit status and the report's fields."""
    state = {"policy": None}
    status, fields = 0, []
    try:
        value = _run(source, ns, checker, state)
        if value is not None:
            if len(value) > max_value:
                value = value[:max_value]
                fields.append('"value_truncated":true')
            fields.append('"value":' + _quote(value))
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            status = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            status = 1
    except BaseException as e:  # the user's error, whatever it is
        try:
            text = _user_traceback(e, state.get("source", source))
        except BaseException:
            # Formatting needs imports, which the user's code may have made
            # impossible (every file descriptor taken, say): say what we can.
            text = "%s: %s\n" % (type(e).__name__, e)
        sys.stderr.write(text)
        fields.append('"error":{"type":%s,"message":%s,"traceback":%s}'
                      % (_quote(type(e).__name__), _quote(str(e)), _quote(text)))
        if isinstance(e, MemoryError):
            fields.append('"limit":"memory"')
        elif isinstance(e, OSError) and e.errno == 27:  # EFBIG: RLIMIT_FSIZE
            fields.append('"limit":"file_size"')
        status = 1
    policy = state["policy"]
    if policy is not None and policy.violations:
        fields.append(_violations_json(policy))
        status = 126
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return status, fields


def _report(fd, fields):
    try:
        os.write(fd, ("{" + ",".join(fields) + "}").encode("utf-8", "replace"))
    except Exception:
        pass


def main():
    max_value = int(sys.argv[2])
    preload = sys.argv[3]
    checker = _load_policy(sys.argv[4]) if len(sys.argv) > 4 else None
    if sys.argv[1] == "session":
        _session(max_value, checker, preload)
    with open(3, "rb", closefd=True) as f:
        source = f.read()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    status, fields = _cell(source, ns, checker, max_value)
    _report(4, fields)
    os._exit(status & 0xFF)


class _Interrupts:
    """SIGINT means "stop this cell": a KeyboardInterrupt while a cell runs
    (Python's own C handler, so no frame of ours shows in the traceback),
    ignored between cells (a late interrupt must not end the kernel)."""

    def __init__(self):
        import _signal
        self._signal = _signal
        self.disarm()

    def arm(self):
        self._signal.signal(self._signal.SIGINT, self._signal.default_int_handler)

    def disarm(self):
        self._signal.signal(self._signal.SIGINT, self._signal.SIG_IGN)


def _shell(command, checker):
    """A shell command as a fresh process in its own process group, which an
    interrupt kills whole, in /workspace whatever directory Python's code
    went to.  Returns its wait status."""
    _set_spawning(checker, True)
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir("/workspace")
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", command], os.environ, setpgroup=0,
                             setsigdef=(2,))
    finally:
        os.fchdir(here)  # back, even to a directory the code has removed
        os.close(here)
        _set_spawning(checker, False)
    try:
        while True:
            try:
                return os.waitpid(pid, 0)[1]
            except InterruptedError:
                continue
    except BaseException:
        try:
            os.killpg(pid, 9)
        except OSError:
            pass
        os.waitpid(pid, 0)
        raise


def _set_spawning(checker, on):
    # The guards let the kernel's own spawn of a checked command pass.
    if checker is not None:
        checker.policy.kernel_spawning = on


def _lean_site():
    """What the site module gives a program, for a kernel started with -S:
    the site directories on sys.path (with the directories their .pth files
    name) and the builtins site adds (exit, quit, help, copyright, credits,
    license) — from the site module's own functions, without its main().
    Not the .pth files' import lines nor sitecustomize: those cost half a
    Python start, on the path of every warm sandbox."""
    import site
    site.setquit()
    site.setcopyright()
    site.sethelper()
    for d in site.getsitepackages():
        if d in sys.path or not os.path.isdir(d):
            continue
        sys.path.append(d)
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeError):
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                extra = os.path.join(d, line)
                if extra not in sys.path and os.path.isdir(extra):
                    sys.path.append(extra)


def _preload(names, checker):
    """The policy's python_preload, each imported as a cell `import name`
    would be (through the module rules, if any).  Returns what went wrong."""
    for name in names.split(","):
        try:
            # A name the policy check let through may still not parse
            # ("import class"): said like any other failure.
            tree = compile("import " + name, CELL, "exec", _ast.PyCF_ONLY_AST)
            if checker is not None and checker(tree).violations:
                return "python_preload: %s is refused by the policy's module rules" % name
            __import__(name)
        except BaseException as e:
            return "python_preload: cannot import %s: %s: %s" % (name, type(e).__name__, e)
    return None


def _session(max_value, checker, preload):
    import _socket

    if "site" not in sys.modules:
        _lean_site()
    me = os.getpid()
    os.set_inheritable(3, False)
    chan = _socket.socket(fileno=3)
    # A process the user's code (or a preloaded module) forks is not the
    # kernel: it must not hold the channel (the supervisor tells a dead
    # kernel by its EOF) nor answer.
    os.register_at_fork(after_in_child=chan.close)
    # Before the hello: a box is ready only with its modules loaded.  A
    # failure is the box's start failing ("e" and why), not a cell's.
    failed = _preload(preload, checker) if preload else None
    if failed:
        chan.send(b"e" + failed.encode("utf-8", "replace")[:400])
        os._exit(1)
    null = os.open("/dev/null", os.O_RDWR)
    me_fd = os.pidfd_open(me)
    chan.sendmsg([b"h"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, me_fd.to_bytes(4, sys.byteorder))])
    os.close(me_fd)
    interrupts = _Interrupts()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    stdout, stderr = sys.stdout, sys.stderr
    while True:
        # Close-on-exec: a shell command must not inherit the report pipe.
        msg, anc, _flags, _addr = chan.recvmsg(16, _socket.CMSG_SPACE(4 * 4),
                                               _socket.MSG_CMSG_CLOEXEC)
        if not msg:
            os._exit(0)
        fds = []
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [int.from_bytes(data[i:i + 4], sys.byteorder)
                        for i in range(0, len(data) - len(data) % 4, 4)]
        if len(fds) != 4:
            for fd in fds:
                os.close(fd)
            chan.send(b"d%d" % (125 << 8))
            continue
        code_fd, out, err, report = fds
        with open(code_fd, "rb", closefd=True) as f:
            source = f.read()
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        sys.stdout, sys.stderr = stdout, stderr
        fields = []
        try:
            interrupts.arm()
            if msg[:1] == b"s":
                status = _shell(source.decode("utf-8", "surrogateescape"), checker)
            else:
                status, fields = _cell(source, ns, checker, max_value)
                status = (status & 0xFF) << 8
        except BaseException as e:  # an interrupt that hit the shell's wait
            status = (130 << 8) if isinstance(e, KeyboardInterrupt) else (1 << 8)
        finally:
            interrupts.disarm()
        if os.getpid() != me:
            os._exit(0)  # a fork of the user's came back here: it is not the kernel
        for stream in (sys.stdout, sys.stderr, stdout, stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os.dup2(null, 1)
        os.dup2(null, 2)
        _report(report, fields)
        os.close(report)
        chan.send(b"d%d" % status)


main()
