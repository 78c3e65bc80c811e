"""Shared by every test under tests/: under CI=true no test may be skipped.

Tests call ``prereq.missing(what)`` when a prerequisite is absent (skip locally, fail in CI).
The hooks below are the backstop for everything else that skips (``pytest.skip``,
``skipif`` markers, ``importorskip``, an empty parametrization): under CI=true such a test, or a
module that skipped at import, is reported as failed with the skip's reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `from prereq import missing` in every test
from prereq import in_ci


def _fail_skip(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped:
        _fail_skip(report)
