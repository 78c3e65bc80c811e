"""Shared testinfra helpers for every role's molecule scenario (found by pytest's conftest lookup)."""

import time

import pytest


def wait_for(check, timeout=60.0, interval=1.0, what="condition"):
    """Poll check() until it returns a truthy value; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError as exc:  # checks may assert; keep the last reason
            last = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last result: {last!r})")


@pytest.fixture
def wait():
    return wait_for
