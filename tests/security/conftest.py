"""Fixtures of the security suite: canaries planted on the host (see canaries.py)."""
import pytest

from canaries import Canary, HostSentinel, Listener


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.cleanup()


@pytest.fixture
def listener(canary):
    lis = Listener(canary.tmp_dir)
    canary._snap = canary._snapshot()  # the socket file is part of the planted tree
    yield lis
    lis.close()


@pytest.fixture
def sentinel():
    s = HostSentinel()
    yield s
    s.stop()
