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


def _run(source, ns):
    tree = compile(source, CELL, "exec", _ast.PyCF_ONLY_AST)
    last = None
    if tree.body and isinstance(tree.body[-1], _ast.Expr):
        last = _ast.Expression(tree.body.pop().value)
    exec(compile(tree, CELL, "exec"), ns)
    if last is not None:
        value = eval(compile(last, CELL, "eval"), ns)
        if value is not None:
            return repr(value)
    return None


def main():
    max_value = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    with open(3, "rb", closefd=True) as f:
        source = f.read()
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    status, fields = 0, []
    try:
        value = _run(source, ns)
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
