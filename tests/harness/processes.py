"""The harness owns what it starts (issue 16, point 3). A pytest plugin (tests/conftest.py loads it):

- every process the pytest process starts (subprocess.Popen, hence subprocess.run and
  asyncio's subprocesses too) gets a process group of its own, the run's marker in its
  environment (MARKER=<run id>, inherited by its children and theirs) and, when the main
  thread starts it, PR_SET_PDEATHSIG: a pytest killed outright takes it down;
- it is owned by the running test, or by the node of the fixture being set up (a session
  fixture's processes belong to the session, a module fixture's to the module), or by the
  owner given to `starter(owner)` (a supervisor restarting a session cluster's child during a
  test keeps it the session's);
- when a node ends (a test: passed, failed or timed out; a module; the session), the groups
  it owns get SIGTERM, then SIGKILL `GRACE` seconds later;
- at the end of the session, any live process carrying the run's marker (grandchildren and
  orphans included) is named, ended, and the run fails.
"""
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

MARKER = "DEBITO_TEST_RUN"
GRACE = 5  # seconds between SIGTERM and SIGKILL (a service stops within 10 s even cut from its broker)

_run_id = None
_owners = [""]  # the current owner's node id, last; "" is the session
_owned = {}  # owner's node id -> [OwnedPopen]
_main_thread = threading.get_native_id()  # the OS thread, not eventlet's green one
_BasePopen = subprocess.Popen


def current_owner():
    return _owners[-1]


def starter(owner=None):
    """A `subprocess.Popen` whose processes belong to `owner` (default: the current owner),
    whoever is running when it is called: for a supervisor made by a fixture."""
    owner = current_owner() if owner is None else owner

    def popen(*args, **kwargs):
        return OwnedPopen(*args, owner_=owner, **kwargs)

    return popen


class OwnedPopen(_BasePopen):
    def __init__(self, *args, owner_=None, **kwargs):
        own_group = False
        if _run_id is not None and len(args) <= 1:  # Popen(argv, keyword=...): the usual call
            if kwargs.get("env") is not None:
                kwargs["env"] = {**kwargs["env"], MARKER: _run_id}
            if not kwargs.get("start_new_session") and kwargs.get("process_group") is None:
                kwargs["process_group"] = 0
            # a group whose id is its pid: ours, or that of the session it asked for
            own_group = kwargs.get("process_group") in (None, 0)
            if threading.get_native_id() == _main_thread:
                kwargs["preexec_fn"] = _ending_with_us(kwargs.get("preexec_fn"))
        super().__init__(*args, **kwargs)
        self.own_group = own_group
        if _run_id is not None:
            _owned.setdefault(current_owner() if owner_ is None else owner_, []).append(self)


def _ending_with_us(preexec_fn):
    from debito.supervisor import end_with

    parent = os.getpid()

    def preexec():
        end_with(parent)  # PR_SET_PDEATHSIG, and exit if pytest died before it was set
        if preexec_fn is not None:
            preexec_fn()

    return preexec


def end(processes, grace=GRACE):
    """SIGTERM to each process's group (or the process, when not in a group of its own), then
    SIGKILL to what is left `grace` seconds later; returns once all are reaped."""
    def signal_all(sig):
        for process in processes:
            try:
                if process.own_group:
                    os.killpg(process.pid, sig)
                elif process.poll() is None:
                    process.send_signal(sig)
            except (ProcessLookupError, PermissionError):
                pass

    def alive(process):
        process.poll()  # reaps it if it ended
        return _group_has_live_member(process.pid) if process.own_group else process.returncode is None

    processes = [p for p in processes if alive(p)]
    if not processes:
        return
    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    signal_all(signal.SIGKILL)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass


def pid_alive(pid):
    """True while process `pid` runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _group_has_live_member(pgid):
    return any(stat[2] not in ("Z", "X") and int(stat[4]) == pgid for _, stat in _proc_stats())


def _proc_stats():
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    head, tail = handle.read().rsplit(")", 1)
                yield int(entry.name), [entry.name, head.split("(", 1)[1]] + tail.split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue


def leftovers(run_id=None):
    """[(pid, command line)] of the live processes carrying the run's marker, but this one."""
    wanted = f"{MARKER}={run_id or _run_id}".encode()
    found = []
    for pid, stat in _proc_stats():
        if pid == os.getpid() or stat[2] in ("Z", "X"):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if wanted not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((pid, command or f"[{stat[1]}]"))
    return found


def _end_pids(pids, grace=GRACE):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(pid in dict(leftovers()) for pid in pids):
            time.sleep(0.05)


def pytest_configure(config):
    global _run_id
    _run_id = uuid.uuid4().hex
    os.environ[MARKER] = _run_id  # inherited by every process started with the environment
    subprocess.Popen = OwnedPopen  # subprocess.run and asyncio look it up there


def pytest_unconfigure(config):
    subprocess.Popen = _BasePopen


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    _owners.append(request.node.nodeid)  # the node of the fixture's scope: its item, module, session
    try:
        yield
    finally:
        _owners.pop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _owners.append(item.nodeid)
    try:
        yield
    finally:
        _owners.pop()
        # every node torn down now (the test, and its module or the session when it was the last)
        kept = {node.nodeid for node in nextitem.listchain()} if nextitem is not None else set()
        for node in reversed(item.listchain()):
            if node.nodeid not in kept:
                end(_owned.pop(node.nodeid, []))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    for owner in list(_owned):  # nodes an interrupted run (-x, Ctrl-C) did not reach the end of
        end(_owned.pop(owner))
    found = leftovers()
    if not found:
        return
    _end_pids([pid for pid, _ in found])
    lines = "\n".join(f"  pid {pid}: {command}" for pid, command in found)
    message = (f"processes started by this test run outlived it (now ended):\n{lines}\n"
               "The test or fixture that starts a process must end it.")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "leftover processes", red=True)
        reporter.write_line(message)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
