"""Shared fixtures for the integration and security suites.

They drive the real binary (AGENTBOX, default build/agentbox) end to end: no
kernel mocks.  Tests may only use loopback addresses.
"""
import json
import os
import pathlib
import subprocess

import pytest
from results import parse_result

ROOT = pathlib.Path(__file__).resolve().parent.parent
AGENTBOX = os.environ.get("AGENTBOX", str(ROOT / "build" / "agentbox"))


class Box:
    """Runs agentbox and returns (exit status, stdout, stderr) or parsed JSON."""

    path = AGENTBOX

    def run(self, *args, input=None, timeout=120, env=None, user=None):
        cmd = [self.path, *args]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout,
                              env=env)

    def json(self, *args, **kw):
        return parse_result(self.run(args[0], "--json", *args[1:], **kw))


@pytest.fixture(scope="session")
def box():
    assert os.path.exists(AGENTBOX), f"build agentbox first: {AGENTBOX}"
    return Box()
