"""Process helpers for system tests: free ports, started processes with
logs captured to files, waits with deadlines, and clean shutdown."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def repo_path(*parts):
    return os.path.join(ROOT, *parts)


def bin_dir():
    return os.path.join(ROOT, os.environ.get("BUILD", "build"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate until it is truthy; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def json_events(text, event):
    """The JSON log lines in text whose "event" is event, parsed; lines that
    are not JSON (sanitizer reports, a tool's plain output) are passed over."""
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("event") == event:
            out.append(obj)
    return out


class Proc:
    """A started process whose stderr (JSON-lines logs) goes to a file."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                      stdout=self.log_file, stderr=subprocess.STDOUT)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        """Parsed JSON log lines; lines that are not JSON (e.g. sanitizer
        reports) are returned as {"raw": text}."""
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def events(self, event):
        return json_events(self.log_text(), event)

    def wait_event(self, event, timeout=10.0, count=1):
        def found():
            if not self.alive() and len(self.events(event)) < count:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}) before logging "
                                     f"{event}:\n{self.log_text()[-4000:]}")
            return len(self.events(event)) >= count
        wait_until(found, timeout, what=f"{self.name} to log {event}")
        return self.events(event)

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.popen.send_signal(sig)
            self.popen.wait(timeout=10)

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """sig (SIGTERM), then SIGKILL after timeout. Returns the exit code."""
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.log_file.close()
        return self.popen.returncode


class Procs:
    """Starts processes for one test and stops all of them afterwards."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.started = []

    def start(self, name, argv, env=None, **extra_env):
        full_env = dict(os.environ)
        # Sanitizer runs: report leaks and errors to the log, fail the process.
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            full_env.update(env)
        full_env.update({k: str(v) for k, v in extra_env.items()})
        log_path = os.path.join(str(self.tmp_path), f"{name}.log")
        proc = Proc(name, argv, full_env, log_path)
        self.started.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.started):
            proc.stop()


@pytest.fixture(scope="session")
def build_dir():
    return bin_dir()


@pytest.fixture(scope="session")
def nagar_bin(build_dir):
    def path(name):
        p = os.path.join(build_dir, name)
        if not os.path.exists(p):
            p = os.path.join(build_dir, "tests", name)
        assert os.path.exists(p), f"{name} is not built in {build_dir}; run make tests"
        return p
    return path


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    yield p
    p.stop_all()
