# agentbox's Python kernel: runs one cell of user code the way a notebook does.
#
# It runs inside the sandbox.  The code arrives on fd 3 (a sealed memfd), the
# outcome leaves as one JSON object on fd 4; stdout and stderr are the user's.
# Tracebacks are cut to the user's frames ("<cell>"), so they point at the
# user's lines and never at this file.  Nothing here is a security boundary:
# the jail around the interpreter is.
import ast
import json
import linecache
import os
import sys
import traceback

CELL = "<cell>"


def _user_traceback(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != CELL:
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) or tb is None:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _run(source, ns, report):
    tree = ast.parse(source, filename=CELL, mode="exec")
    text = source.decode("utf-8", "replace")
    linecache.cache[CELL] = (len(text), None, text.splitlines(True), CELL)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, CELL, "exec"), ns)
    if last is not None:
        value = eval(compile(last, CELL, "eval"), ns)
        if value is not None:
            report["value"] = repr(value)


def main():
    max_value = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    with open(3, "rb", closefd=True) as f:
        source = f.read()
    out = os.fdopen(4, "w", encoding="utf-8", errors="replace", closefd=True)
    report = {"value": None, "error": None}
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    status = 0
    try:
        _run(source, ns, report)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            status = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            status = 1
    except BaseException as e:  # the user's error, whatever it is
        text = _user_traceback(e)
        sys.stderr.write(text)
        report["error"] = {"type": type(e).__name__, "message": str(e), "traceback": text}
        if isinstance(e, MemoryError):
            report["limit"] = "memory"
        elif isinstance(e, OSError) and e.errno == 27:  # EFBIG: RLIMIT_FSIZE
            report["limit"] = "file_size"
        status = 1
    if report["value"] is not None and len(report["value"]) > max_value:
        report["value"] = report["value"][:max_value]
        report["value_truncated"] = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        out.write(json.dumps(report))
        out.close()
    except Exception:
        pass
    os._exit(status & 0xFF)


main()
