"""Per-file progress for `make test`: one line when every test of a file has reported.

    [ 42/286] tests/test_infinite.py: 21 passed in 14.2 s

Works with and without pytest-xdist (in the controller process; workers stay silent). The slowest
tests are listed at the end by pytest's own `--durations`.
"""
from __future__ import annotations

import collections
import time

import pytest


class FileProgress:
    def __init__(self, config):
        self.config = config
        self.expected = collections.Counter()  # file -> number of tests
        self.done = collections.Counter()
        self.outcomes = collections.defaultdict(collections.Counter)
        self.started = {}
        self.total_done = 0
        self.total = 0

    def _file(self, nodeid):
        return nodeid.split("::", 1)[0]

    def _set_ids(self, ids):
        if self.total:  # every xdist worker collects the same ids
            return
        for nodeid in ids:
            self.expected[self._file(nodeid)] += 1
        self.total = len(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self._set_ids(ids)

    def pytest_collection_finish(self, session):
        if not hasattr(self.config, "workerinput") and session.items:
            self._set_ids([item.nodeid for item in session.items])

    def pytest_runtest_logreport(self, report):
        path = self._file(report.nodeid)
        self.started.setdefault(path, time.monotonic())
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes[path][report.outcome] += 1
        if report.when != "teardown":
            return
        self.done[path] += 1
        self.total_done += 1
        if self.done[path] == self.expected.get(path, -1):
            counts = ", ".join(f"{n} {o}" for o, n in sorted(self.outcomes[path].items()))
            secs = time.monotonic() - self.started[path]
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                if getattr(tr._tw, "width_of_current_line", 0):
                    tr.write("\n")  # after the progress dots
                tr.write_line(f"[{self.total_done:4d}/{self.total}] {path}: {counts} "
                              f"(first to last report {secs:.1f} s)")


def register(config):
    if hasattr(config, "workerinput") or config.getoption("verbose") > 0:
        return  # a worker, or -v already prints a line per test
    config.pluginmanager.register(FileProgress(config), "ntk-file-progress")
