"""Parsing the command line's --json output, for every suite."""
import json


def parse_result(p):
    """The result object of a finished `agentbox ... --json` run, plus the
    exit status (`_exit`) and stderr (`_stderr`)."""
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {p.returncode}): {p.stdout!r} {p.stderr!r}")
    assert isinstance(doc, dict), f"JSON is not an object: {p.stdout!r}"
    doc["_exit"] = p.returncode
    doc["_stderr"] = p.stderr
    return doc
