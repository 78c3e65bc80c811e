"""Prerequisites of tests (podman, the test images, the INFN reference directory, ...).

A test that cannot run calls ``missing(what)`` (or ``require(ok, what)``) instead of
``pytest.skip``: on a developer's machine the test is skipped with the reason; under ``CI=true``
it FAILS with the same reason, so CI cannot pass with tests that never ran. tests/conftest.py
also turns any other skip into a failure under CI=true (a backstop for plain pytest.skip,
skipif markers and empty parametrizations).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_VALUES = ("1", "true", "yes")


def in_ci() -> bool:
    """Whether this run is CI (``CI=true``, as CI services set it): nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def missing(what: str) -> NoReturn:
    """The test cannot run because ``what`` is missing: skip it, or fail it under CI=true."""
    __tracebackhide__ = True  # report the test's line, not this one
    if in_ci():
        pytest.fail(
            f"prerequisite missing (CI=true, so this fails instead of skipping): {what}", pytrace=False
        )
    pytest.skip(f"prerequisite missing: {what}")


def require(ok: object, what: str) -> None:
    """``missing(what)`` unless ``ok`` is true."""
    __tracebackhide__ = True
    if not ok:
        missing(what)
