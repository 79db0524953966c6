# agentbox's Python kernel: runs one cell of user code the way a notebook does.
#
# It runs inside the sandbox.  The code arrives on fd 3 (a sealed memfd), the
# outcome leaves as one JSON object on fd 4; stdout and stderr are the user's.
# Tracebacks are cut to the user's frames ("<cell>"), so they point at the
# user's lines and never at this file.  Nothing here is a security boundary:
# the jail around the interpreter is.
#
# Start-up time is the product here, so only C-level modules are imported up
# front (_ast and _json load in microseconds; ast and json take milliseconds),
# and traceback and linecache only when there is an error to format.
import _ast
import os
import sys

CELL = "<cell>"


def _quote(text):
    import _json
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


# ---- module policy -------------------------------------------------------
# The policy arrives as lines "key:value" in argv[2] (names are validated on
# the host to be dotted identifiers, so ',' and ':' are safe separators):
#   mode:blacklist | mode:whitelist
#   restricted:os,subprocess      allowed:math,json
#   override:os.path:1:join,basename
#   network:0
# Three checks apply it: a static pass over the AST before anything runs,
# an import guard for the user's own imports (allowed libraries may import
# what they like internally), and audit hooks (PEP 578) that refuse the
# dangerous events of denied capabilities wherever they come from.


class _Policy:
    def __init__(self, text):
        self.mode, self.restricted, self.allowed = "blacklist", set(), set()
        self.overrides, self.network = {}, False
        for line in text.split("\n"):
            key, _, value = line.partition(":")
            if key == "mode":
                self.mode = value
            elif key in ("restricted", "allowed"):
                getattr(self, key).update(v for v in value.split(",") if v)
            elif key == "override":
                name, allowed, functions = value.split(":", 2)
                self.overrides[name] = (allowed == "1",
                                        frozenset(f for f in functions.split(",") if f))
            elif key == "network":
                self.network = value == "1"
        self.violations = []
        self.importing = 0  # imports under way, of any module

    def denied(self, name):
        """None if `name` (dotted, maybe module.attribute) may be imported,
        else the name that denies it."""
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.overrides:
                allowed, functions = self.overrides[prefix]
                if not allowed:
                    return prefix
                if functions and i < len(parts) and parts[i] not in functions:
                    return ".".join(parts[:i + 1])
                return None
        if self.mode == "whitelist":
            return None if parts[0] in self.allowed or name in self.allowed else parts[0]
        for i in range(1, len(parts) + 1):
            if ".".join(parts[:i]) in self.restricted:
                return ".".join(parts[:i])
        return None

    def violate(self, target, detail):
        self.violations.append((target, detail))

    def capability_denied(self, module):
        return self.denied(module) is not None


def _names_imported(node):
    if isinstance(node, _ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, _ast.ImportFrom) and not node.level and node.module:
        return [node.module if a.name == "*" else node.module + "." + a.name for a in node.names]
    if isinstance(node, _ast.Call) and node.args and isinstance(node.args[0], _ast.Constant) \
            and isinstance(node.args[0].value, str):
        f = node.func
        if isinstance(f, _ast.Name) and f.id == "__import__":
            return [node.args[0].value]
        if isinstance(f, _ast.Attribute) and f.attr == "import_module":
            return [node.args[0].value]
    return []


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for field in n._fields:
            v = getattr(n, field, None)
            if isinstance(v, list):
                stack.extend(x for x in v if isinstance(x, _ast.AST))
            elif isinstance(v, _ast.AST):
                stack.append(v)


def _dotted(node):
    parts = []
    while isinstance(node, _ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, _ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _static_check(tree, policy):
    for node in _walk(tree):
        for name in _names_imported(node):
            target = policy.denied(name)
            if target:
                policy.violate(target, "import of restricted module '%s' at line %d"
                               % (target, node.lineno))
        if isinstance(node, _ast.Attribute):
            name = _dotted(node)
            if name and "." in name:
                for prefix, (allowed, functions) in policy.overrides.items():
                    if allowed and functions and name.startswith(prefix + "."):
                        attr = name[len(prefix) + 1:].split(".")[0]
                        if attr not in functions:
                            policy.violate(prefix + "." + attr,
                                           "use of '%s.%s', not an allowed function, at line %d"
                                           % (prefix, attr, node.lineno))
    policy.violations.sort(key=lambda v: int(v[1].rsplit(" ", 1)[1]))


class PolicyViolation(ImportError):
    pass


def _user_frame(frame):
    """Code the user wrote: the cell, or a module it wrote to a writable
    place and imported (installed libraries live under /usr)."""
    name = frame.f_code.co_filename
    return name == CELL or not name.startswith(("/usr/", "<frozen"))


def _view(module, functions):
    """A module object holding only the allowed functions of `module`."""
    view = type(sys)(module.__name__)
    for f in functions:
        if hasattr(module, f):
            setattr(view, f, getattr(module, f))
    return view


def _install_guards(policy):
    import builtins

    real_import = builtins.__import__

    def refuse(target):
        detail = "import of restricted module '%s'" % target
        policy.violate(target, detail)
        raise PolicyViolation(detail + " is blocked by policy")

    def overridden(name, module, fromlist):
        # `import os.path` binds `os`: hand the user a view of `os` that has
        # nothing but the allowed submodule, itself cut to its functions.
        for prefix, (allowed, functions) in policy.overrides.items():
            if not (allowed and functions):
                continue
            if name == prefix and fromlist:
                return _view(module, functions)
            top, _, rest = prefix.partition(".")
            if rest and "." not in rest and (name == prefix or (name == top and rest in fromlist)):
                view = type(sys)(top)
                setattr(view, rest, _view(sys.modules[prefix], functions))
                return view
        return module

    def counted(importer, *args):
        policy.importing += 1
        try:
            return importer(*args)
        finally:
            policy.importing -= 1

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or not _user_frame(sys._getframe(1)):
            return counted(real_import, name, globals, locals, fromlist, level)
        fromlist = fromlist or ()
        for item in ([name + "." + f for f in fromlist if f != "*"] or [name]):
            target = policy.denied(item)
            if target:
                refuse(target)
        module = counted(real_import, name, globals, locals, fromlist, level)
        return overridden(name, module, fromlist) if policy.overrides else module

    builtins.__import__ = guarded_import
    import importlib

    real_import_module = importlib.import_module

    def guarded_import_module(name, package=None):
        if _user_frame(sys._getframe(1)) and not name.startswith("."):
            target = policy.denied(name)
            if target:
                refuse(target)
        return counted(real_import_module, name, package)

    importlib.import_module = guarded_import_module

    refused = {}
    if policy.capability_denied("os"):
        for event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                      "os.forkpty"):
            refused[event] = "os"
    if policy.capability_denied("subprocess"):
        refused["subprocess.Popen"] = "subprocess"
    if policy.capability_denied("ctypes"):
        refused["ctypes.dlopen"] = "ctypes"
    if not policy.network or policy.capability_denied("socket"):
        refused["socket.connect"] = "socket"

    def hook(event, args):
        target = refused.get(event)
        # An allowed library may do while it is being imported what the user
        # may not (numpy dlopens, pandas probes with a subprocess); the
        # event's own frame must be installed library code for that.
        if target is not None and policy.importing and not _user_frame(sys._getframe(1)):
            return
        if target is not None:
            detail = "%s refused: the policy denies %s" % (event, target)
            policy.violate(target, detail)
            raise PermissionError(detail)
        if event == "open" and len(args) > 1 and _writes(args[1], args[2] if len(args) > 2 else 0):
            path = args[0]
            if isinstance(path, (str, bytes)) and not _scratch(path):
                detail = "open of %r for writing refused: only /workspace and /tmp are writable" % (path,)
                policy.violate("file", detail)
                raise PermissionError(detail)

    sys.addaudithook(hook)


def _writes(mode, flags):
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))


def _scratch(path):
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    full = os.path.normpath(os.path.join(os.getcwd(), path))
    return any(full == d or full.startswith(d + "/") for d in ("/workspace", "/tmp", "/dev/shm")) \
        or full in ("/dev/null", "/dev/stdout", "/dev/stderr")


def _run(source, ns, policy):
    tree = compile(source, CELL, "exec", _ast.PyCF_ONLY_AST)
    if policy is not None:
        _static_check(tree, policy)
        if policy.violations:
            return None
        _install_guards(policy)
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
        '{"rule":"%s","target":%s,"detail":%s}'
        % ("file" if t == "file" else "module", _quote(t), _quote(d))
        for t, d in policy.violations)


def main():
    max_value = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    policy = _Policy(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None
    with open(3, "rb", closefd=True) as f:
        source = f.read()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    status, fields = 0, []
    try:
        value = _run(source, ns, policy)
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
        text = _user_traceback(e, source)
        sys.stderr.write(text)
        fields.append('"error":{"type":%s,"message":%s,"traceback":%s}'
                      % (_quote(type(e).__name__), _quote(str(e)), _quote(text)))
        if isinstance(e, MemoryError):
            fields.append('"limit":"memory"')
        elif isinstance(e, OSError) and e.errno == 27:  # EFBIG: RLIMIT_FSIZE
            fields.append('"limit":"file_size"')
        status = 1
    if policy is not None and policy.violations:
        fields.append(_violations_json(policy))
        status = 126
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        os.write(4, ("{" + ",".join(fields) + "}").encode("utf-8", "replace"))
    except Exception:
        pass
    os._exit(status & 0xFF)


main()
