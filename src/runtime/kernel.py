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


def _load_policy(spec, code):
    """kernel_policy.py, compiled only when the policy has module rules."""
    ns = {"__name__": "agentbox_policy", "__builtins__": __builtins__,
          "__file__": "<agentbox-policy>"}
    exec(compile(code, "<agentbox-policy>", "exec"), ns)
    return lambda tree: ns["check_and_guard"](tree, spec)


def _run(source, ns, checker, state):
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


def main():
    max_value = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    checker = _load_policy(sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None
    state = {"policy": None}
    with open(3, "rb", closefd=True) as f:
        source = f.read()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
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
            text = _user_traceback(e, source)
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
    try:
        os.write(4, ("{" + ",".join(fields) + "}").encode("utf-8", "replace"))
    except Exception:
        pass
    os._exit(status & 0xFF)


main()
