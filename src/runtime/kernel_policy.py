# agentbox's Python module policy: compiled by the kernel (kernel.py) only
# when the policy has module rules, so runs without them pay nothing for it.
# It runs inside the sandbox; it is an early, clear refusal, not the
# boundary (the jail is).
import _ast
import os
import sys

CELL = "<cell>"

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
        self.kernel_spawning = False

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

    def violate(self, target, detail, rule="module"):
        self.violations.append((target, detail, rule))

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


_KERNEL_FILES = ("<agentbox-kernel>", "<agentbox-policy>")


def _user_frame(frame):
    """Code the user wrote: the cell, exec'd strings, or a module it wrote to
    a writable place (installed libraries live under /usr; the kernel's own
    code has its own names).  Code can lie about its file name through
    compile(); that is a gadget like any other, and the jail is the boundary."""
    name = frame.f_code.co_filename
    return not (name.startswith(("/usr/", "<frozen")) or name in _KERNEL_FILES)


def _view(module, functions):
    """A module object holding only the allowed functions of `module`."""
    view = type(sys)(module.__name__)
    for f in functions:
        if hasattr(module, f):
            setattr(view, f, getattr(module, f))
    return view


def _install_guards(policy):
    import builtins
    import importlib
    import linecache  # noqa: F401  the kernel formats tracebacks with these
    import traceback  # noqa: F401  after the guard is in place

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
    real_import_module = importlib.import_module

    def guarded_import_module(name, package=None):
        if _user_frame(sys._getframe(1)) and not name.startswith("."):
            target = policy.denied(name)
            if target:
                refuse(target)
        return counted(real_import_module, name, package)

    importlib.import_module = guarded_import_module

    refused = {}
    network_off = not policy.network
    if policy.capability_denied("os"):
        for event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                      "os.forkpty"):
            refused[event] = "os"
    if policy.capability_denied("subprocess"):
        refused["subprocess.Popen"] = "subprocess"
    if policy.capability_denied("ctypes"):
        refused["ctypes.dlopen"] = "ctypes"
    if network_off or policy.capability_denied("socket"):
        refused["socket.connect"] = "socket"

    def hook(event, args):
        target = refused.get(event)
        # An allowed library may do while it is being imported what the user
        # may not (numpy dlopens, pandas probes with a subprocess); the
        # event's own frame must be installed library code for that.
        if target is not None and policy.importing and not _user_frame(sys._getframe(1)):
            return
        # The session kernel starting a shell command the host has checked.
        if target is not None and policy.kernel_spawning and not _user_frame(sys._getframe(1)):
            return
        if target is not None:
            if event == "socket.connect" and not policy.capability_denied("socket"):
                address = args[1] if len(args) > 1 else None
                detail = "connection to %r refused: network_access is none" % (address,)
                policy.violate(str(address), detail, rule="network")
            else:
                detail = "%s refused: the policy denies %s" % (event, target)
                policy.violate(target, detail)
            raise PermissionError(detail)
        if event == "open" and len(args) > 1 and _writes(args[1], args[2] if len(args) > 2 else 0):
            path = args[0]
            if isinstance(path, (str, bytes)) and not _scratch(path):
                detail = "open of %r for writing refused: only /workspace and /tmp are writable" % (path,)
                policy.violate(os.fsdecode(path), detail, rule="file")
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




def make_checker(spec):
    """A check for each cell: it returns the policy object holding that
    cell's violations.  Guards are installed before the first cell that
    passes the static pass (a refused cell must run nothing), and once: a
    session's cells share them."""
    policy = _Policy(spec)
    installed = []

    def check(tree):
        policy.violations = []
        _static_check(tree, policy)
        if not policy.violations and not installed:
            _install_guards(policy)
            installed.append(True)
        return policy

    check.policy = policy  # the session kernel flags its own shell spawns on it
    return check
