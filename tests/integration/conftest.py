"""Integration-suite fixtures (the `box` fixture itself is in ../conftest.py).

* `box` is wrapped so that a binary that is briefly missing (being rebuilt by
  another engineer) is waited for instead of failing the test.
* `@pytest.mark.timeout(SECONDS)` works even without the pytest-timeout plugin
  (a SIGALRM guard), so a hanging agentbox fails a test instead of hanging the
  suite.
"""
import signal

import pytest

from integration_helpers import RetryBox


@pytest.fixture(scope="session")
def box(box):  # noqa: F811  (wraps the shared fixture of the same name)
    return RetryBox(box)


# --------------------------------------------------------------------------
# timeout marker without the plugin

def _have_timeout_plugin(config):
    return config.pluginmanager.hasplugin("timeout")


def pytest_configure(config):
    if not _have_timeout_plugin(config):
        config.addinivalue_line("markers", "timeout(seconds): fail the test after that many seconds")


class SuiteTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    mark = item.get_closest_marker("timeout")
    if mark is None or _have_timeout_plugin(item.config) or not mark.args:
        yield
        return
    seconds = int(mark.args[0])

    def on_alarm(signum, frame):
        raise SuiteTimeout(f"test exceeded its {seconds} s timeout")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
