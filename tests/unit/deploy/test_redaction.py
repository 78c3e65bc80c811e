"""Secrets never reach stored plans; role variables holding them become extra vars."""

from __future__ import annotations

import pytest

from infn_cloud.deploy.redaction import redact, secret_role_vars, unredact


def test_redact_and_unredact_round_trip_including_embedded_values():
    secrets = {"pw": 'p"a\\ss', "token": "abc123"}
    plan = {
        "inputs": {"pw": 'p"a\\ss', "other": "x"},
        "software": [{"vars": {"url": "https://u:abc123@h", "pw": 'p"a\\ss', "n": 3}}],
    }
    stored = redact(plan, secrets)
    text = repr(stored)
    assert "abc123" not in text and 'p"a' not in text
    assert stored["software"][0]["vars"]["url"] == "https://u:<secret:token>@h"
    assert unredact(stored, secrets) == plan


def test_secret_role_vars_finds_exact_and_embedded_values():
    secrets = {"cluster_secret": "S3cr3t-value"}
    plan = {
        "software": [
            {"vars": {"htcondor_cluster_secret": "S3cr3t-value", "htcondor_roles": ["execute"]}},
            {"vars": {"htcondor_cluster_secret": "S3cr3t-value"}},
        ]
    }
    assert secret_role_vars(plan, secrets) == {"htcondor_cluster_secret": "S3cr3t-value"}
    assert secret_role_vars(plan, {}) == {}


def test_conflicting_secret_values_for_one_variable_are_refused():
    secrets = {"a": "first-secret", "b": "second-secret"}
    plan = {"software": [{"vars": {"v": "first-secret"}}, {"vars": {"v": "second-secret"}}]}
    with pytest.raises(ValueError, match="different secrets"):
        secret_role_vars(plan, secrets)
