"""A pytest plugin for tests/dumb_init_suite.sh, which runs dumb-init's own
test suite against tini-rs in dumb-init mode, in a PID namespace of its own.

- After each test, every process the test left behind in the namespace is
  killed (a failing test leaves `yes | tail` pipelines and stopped
  processes that would make later tests fail too), and pytest's own
  unwaited children are reaped. Only PID 1 and pytest's own ancestry are
  spared; the namespace is the script's, so nothing outside is touched.
- Every collected test id, and every report (phase and outcome), is written
  to the files named by DUMB_INIT_SUITE_COLLECTED and
  DUMB_INIT_SUITE_REPORTED, so that the script can check that each collected
  test reported and passed (pytest-timeout, under load, can end a session
  early and drop tests without a word).
"""
import os
import signal
import time

import pytest


def _parent(pid):
    try:
        with open('/proc/{}/stat'.format(pid)) as f:
            stat = f.read()
    except OSError:
        return 0
    # The command name may hold spaces and parentheses: read after the last ')'.
    return int(stat[stat.rindex(')') + 2:].split()[1])


def _spared():
    spared = {1}
    pid = os.getpid()
    while pid > 1:
        spared.add(pid)
        pid = _parent(pid)
    return spared


def _leftovers(spared):
    pids = []
    for name in os.listdir('/proc'):
        if name.isdigit() and int(name) not in spared:
            try:
                with open('/proc/{}/stat'.format(name)) as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != 'Z':
                pids.append(int(name))
    return pids


def _reap_own_children():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _clean_up():
    if os.getpid() == 1 or not os.path.exists('/proc/1'):
        return
    spared = _spared()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = _leftovers(spared)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_own_children()
        time.sleep(0.02)
    _reap_own_children()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    _clean_up()


def _append(variable, line):
    path = os.environ.get(variable)
    if path:
        with open(path, 'a') as f:
            f.write(line + '\n')


def pytest_collection_finish(session):
    for item in session.items:
        _append('DUMB_INIT_SUITE_COLLECTED', item.nodeid)


def pytest_runtest_logreport(report):
    _append(
        'DUMB_INIT_SUITE_REPORTED',
        '{} {} {}'.format(report.when, report.outcome, report.nodeid),
    )
