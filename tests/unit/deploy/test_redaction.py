"""The one redactor: works on the data, not on its JSON text; round trips; secret role vars."""

from __future__ import annotations

import json

import pytest

from infn_cloud.deploy.redaction import (
    Redactor,
    mask_references,
    redact,
    redact_plan,
    redact_template_text,
    reference_name,
    resolve_outputs,
    secret_role_vars,
    unredact,
)
from infn_cloud.errors import ValidationError


def test_round_trip_including_embedded_values():
    secrets = {"pw": 'p"a\\ss', "token": "abc123"}
    plan = {
        "inputs": {"pw": 'p"a\\ss', "other": "x"},
        "software": [{"vars": {"url": "https://u:abc123@h", "pw": 'p"a\\ss', "n": 3}}],
    }
    stored = redact(plan, secrets)
    assert "abc123" not in repr(stored) and 'p"a' not in repr(stored)
    assert stored["software"][0]["vars"]["url"] == "https://u:<secret:token>@h"
    assert stored["inputs"]["pw"] == "<secret:pw>"
    assert unredact(stored, secrets) == plan


@pytest.mark.parametrize(
    "value",
    [
        'quote"inside',
        "back\\slash\\",
        "\\u0041 not an escape",
        "ünïcödé-密码-🔑",
        'json-ish": "x',
        "new\nline\ttab",
        "<tag>&amp;",
        "secret",  # the word of the marker itself
    ],
)
def test_awkward_values_are_replaced_everywhere_and_come_back(value):
    data = {
        "whole": value,
        "embedded": f"pre-{value}-post",
        "list": [value, {"deep": [f"x{value}x"]}],
        "n": 42,
        "flag": True,
        "none": None,
    }
    stored = redact(data, {"s": value})
    text = json.dumps(stored, ensure_ascii=False)
    for form in (value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]):
        assert form not in text.replace("<secret:s>", "")
    assert stored["whole"] == "<secret:s>"
    assert stored["embedded"] == "pre-<secret:s>-post"
    assert stored["n"] == 42 and stored["flag"] is True and stored["none"] is None
    assert unredact(stored, {"s": value}) == data


def test_secret_inside_another_secret_and_the_marker_word():
    secrets = {"long": "hunter2-and-more", "short": "hunter2", "word": "secret"}
    data = {"a": "hunter2-and-more", "b": "x hunter2 y", "c": "my secret hunter2"}
    stored = redact(data, secrets)
    assert stored == {
        "a": "<secret:long>",
        "b": "x <secret:short> y",
        "c": "my <secret:word> <secret:short>",
    }
    # Redacting again changes nothing: markers are never searched for secrets.
    assert redact(stored, secrets) == stored
    assert unredact(stored, secrets) == data


def test_numbers_equal_to_a_secret_are_redacted_and_come_back_as_text():
    stored = redact({"pin": 123456, "port": 22, "ok": True, "f": 1.5}, {"pin": "123456"})
    assert stored == {"pin": "<secret:pin>", "port": 22, "ok": True, "f": 1.5}
    assert unredact(stored, {"pin": "123456"})["pin"] == "123456"
    assert unredact(stored, {"pin": 123456})["pin"] == 123456


def test_keys_are_names_not_values_and_empty_secrets_are_ignored():
    stored = redact({"hunter2": "hunter2", "e": ""}, {"s": "hunter2", "empty": "", "none": None})
    assert stored == {"hunter2": "<secret:s>", "e": ""}
    assert not Redactor({"empty": "", "flag": True})


def test_unknown_markers_stay():
    assert unredact({"a": "<secret:gone> and <secret:s>"}, {"s": "v"}) == {"a": "<secret:gone> and v"}


def test_redact_plan_keeps_secret_names():
    plan = {
        "secret_inputs": ["client_secret"],
        "secret_values": [{"name": "client_secret", "paths": [["inputs", "client_secret"]]}],
        "inputs": {"client_secret": "client_secret"},
    }
    stored = redact_plan(plan, {"client_secret": "client_secret"})
    assert stored["secret_inputs"] == ["client_secret"]
    assert stored["secret_values"] == plan["secret_values"]
    assert stored["inputs"] == {"client_secret": "<secret:client_secret>"}


def test_secret_role_vars_finds_exact_embedded_and_marked_values():
    secrets = {"cluster_secret": "S3cr3t-value"}
    plan = {
        "software": [
            {"node": "a", "vars": {"htcondor_cluster_secret": "S3cr3t-value", "htcondor_roles": ["execute"]}},
            {"node": "b", "vars": {"env": {"DB_PASSWORD": "S3cr3t-value", "TZ": "UTC"}}},
        ]
    }
    assert secret_role_vars(plan, secrets) == {
        "htcondor_cluster_secret": "S3cr3t-value",
        "env": {"DB_PASSWORD": "S3cr3t-value", "TZ": "UTC"},
    }
    assert secret_role_vars(plan, {}) == {}
    # A plan that is already redacted (tosca_plan module output): the marked variables.
    assert set(secret_role_vars(redact(plan, secrets), {})) == {"htcondor_cluster_secret", "env"}


def test_conflicting_secret_values_for_one_variable_are_refused_naming_the_nodes():
    secrets = {"a": "first-secret", "b": "second-secret"}
    plan = {
        "software": [
            {"node": "n1", "vars": {"v": "first-secret"}},
            {"node": "n2", "vars": {"v": "second-secret"}},
        ]
    }
    with pytest.raises(ValidationError, match=r"role variable v .* nodes n1 and n2") as exc:
        secret_role_vars(plan, secrets)
    assert "first-secret" not in str(exc.value) + repr(exc.value.details)


TEMPLATE = """\
# the admin password is hunter2-hunter2 (a careless comment)
topology_template:
  inputs:
    db_password:
      type: string
      default: "hunter2-hunter2"
    api_token:
      type: string
      default: 'it''s "quoted" \\ too'
    folded:
      type: string
      default: >-
        a folded
        p4ss-phrase-long
    client_secret:
      type: string
      default: secret
"""


def test_template_text_keeps_no_secret_default_and_stays_yaml():
    import yaml

    secrets = {
        "db_password": "hunter2-hunter2",
        "api_token": 'it\'s "quoted" \\ too',
        "folded": "a folded p4ss-phrase-long",
        "client_secret": "secret",
    }
    text = redact_template_text(TEMPLATE, secrets)
    assert text is not None
    for value in ("hunter2-hunter2", "quoted", "p4ss-phrase-long"):
        assert value not in text
    assert "default: secret\n" not in text and "client_secret:" in text  # keys are names
    inputs = yaml.safe_load(text)["topology_template"]["inputs"]
    assert inputs["db_password"]["default"] == "<secret:db_password>"
    assert inputs["folded"]["default"] == "<secret:folded>"
    assert inputs["api_token"]["default"] == "<secret:api_token>"
    assert inputs["client_secret"]["default"] == "<secret:client_secret>"
    assert "# the admin password is <secret:db_password>" in text
    assert redact_template_text(TEMPLATE, {}) == TEMPLATE
    assert redact_template_text(None, secrets) is None


def test_template_text_escaped_spellings_and_non_yaml_text():
    # The value is only readable after YAML unescapes it: the scalar is rewritten all the same.
    text = 'topology_template:\n  inputs:\n    p: {default: "hun\\x74er2-long"}\n'
    assert "hunter2-long" in json.dumps(__import__("yaml").safe_load(text))
    cleaned = redact_template_text(text, {"p": "hunter2-long"})
    assert cleaned == 'topology_template:\n  inputs:\n    p: {default: "<secret:p>"}\n'
    weird = "key: [unclosed\n# hunter2-long\n"  # not YAML: the raw text is still cleaned
    assert "hunter2-long" not in (redact_template_text(weird, {"p": "hunter2-long"}) or "")


def test_one_marker_for_redacted_values_and_output_references():
    """A template output ``secret:NAME`` is shown with the same marker the redactor writes."""
    secrets = {"cluster_secret": "s3cr3t-value-1234"}
    outputs = {"cluster_secret": "secret:cluster_secret", "ip": "10.0.0.1", "note": "secret: not a name!"}
    shown = mask_references(outputs)
    assert shown == {
        "cluster_secret": "<secret:cluster_secret>",
        "ip": "10.0.0.1",
        "note": "secret: not a name!",
    }
    assert shown["cluster_secret"] == redact({"v": secrets["cluster_secret"]}, secrets)["v"]
    assert reference_name("secret:cluster_secret") == "cluster_secret"
    assert reference_name("secret:../etc") is None and reference_name(7) is None


def test_show_secrets_resolves_references_and_markers_of_known_secrets_only():
    secrets = {"pw": "the-password-42", "key": "the-key-43"}
    outputs = {
        "ref": "secret:pw",
        "embedded": "https://admin:<secret:key>@host",
        "unknown_ref": "secret:missing",
        "unknown_marker": "<secret:missing>",
        "n": 5,
    }
    assert resolve_outputs(outputs, secrets) == {
        "ref": "the-password-42",
        "embedded": "https://admin:the-key-43@host",
        "unknown_ref": "secret:missing",
        "unknown_marker": "<secret:missing>",
        "n": 5,
    }
