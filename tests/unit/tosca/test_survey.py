"""AWX survey specs from template inputs (infn_cloud.tosca.survey, `infn-cloud survey`).

Every catalogue template and every INFN reference template gets a survey AWX accepts (types,
variables, choices, bounds); the answers AWX sends back (strings for multiple choice and text,
numbers for integer/float questions) become the same plan inputs the CLI would use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from catalogue_inputs import infn_user_inputs, user_inputs
from tosca_testlib import REPO, fill_required, infn_templates

from infn_cloud.errors import ValidationError
from infn_cloud.tosca import make_plan, validate
from infn_cloud.tosca.survey import VARIABLE_PREFIX, inputs_from_answers, survey_spec, variable_name

CATALOGUE = sorted(p.stem for p in (REPO / "tosca_templates").glob("*.yaml"))
AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
INFN_COUNT = 32


def _check_spec(spec: dict, declared: list[dict]) -> None:
    """What AWX's survey validation checks, plus: one question per declared input."""
    assert isinstance(spec["name"], str) and spec["name"]
    assert isinstance(spec["description"], str)
    questions = spec["spec"]
    assert [q["question_name"] for q in questions] == [e["name"] for e in declared]
    variables = [q["variable"] for q in questions]
    assert len(set(variables)) == len(variables)
    by_name = {e["name"]: e for e in declared}
    for q in questions:
        entry = by_name[q["question_name"]]
        assert q["type"] in AWX_TYPES, q
        assert q["variable"].startswith(VARIABLE_PREFIX) and q["variable"].isidentifier(), q
        assert isinstance(q["required"], bool)
        assert q["required"] == (
            entry.get("default") is None and bool(entry["required"]) and q["type"] != "password"
        )
        if q["type"] == "multiplechoice":
            assert q["choices"] and all(isinstance(c, str) for c in q["choices"])
            assert q["default"] in ("", *q["choices"]), q
        if q["type"] in ("integer", "float"):
            for key in ("min", "max", "default"):
                assert key not in q or isinstance(q[key], int | float), q
            if "min" in q and "max" in q:
                assert q["min"] <= q["max"], q
        if q["type"] == "password":
            assert q["default"] == "", "a secret default must never be in a survey"
        json.dumps(q)  # plain JSON


@pytest.mark.parametrize("name", CATALOGUE)
def test_catalogue_template_survey(name):
    survey = survey_spec(name)
    _check_spec(survey.spec, validate(name).inputs)


def test_catalogue_has_the_nine_templates():
    assert len(CATALOGUE) == 9


@pytest.fixture(scope="module")
def infn_map(tmp_path_factory, reference):
    types = reference / "infn-tosca-types"
    path = tmp_path_factory.mktemp("map") / "map.yaml"
    path.write_text(f'imports:\n  "https://baltig.infn.it/infn-cloud/tosca-types/raw/*/": "{types}/"\n')
    return [str(path)]


def test_all_infn_reference_templates_are_covered(reference):
    assert len(infn_templates()) == INFN_COUNT


@pytest.mark.parametrize("path", infn_templates(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_infn_template_survey(path, infn_map):
    survey = survey_spec(str(path), import_map=infn_map)
    report = validate(str(path), import_map=infn_map)
    _check_spec(survey.spec, report.inputs)
    kinds = {e["name"]: e["type"] for e in report.inputs}
    for q in survey.spec["spec"]:
        if kinds[q["question_name"]] == "map":
            assert any(f"input '{q['question_name']}' is a map" in w for w in survey.warnings)


def _question(spec: dict, name: str) -> dict:
    return next(q for q in spec["spec"] if q["question_name"] == name)


def test_mapping_of_types_and_constraints():
    spec = survey_spec("htcondor_cluster")
    nodes = _question(spec.spec, "num_execute_nodes")  # integer, in_range [0, 50]
    assert (nodes["type"], nodes["min"], nodes["max"], nodes["default"]) == ("integer", 0, 50, 1)
    cpus = _question(spec.spec, "num_cpus")  # valid_values on an integer
    assert cpus["type"] == "multiplechoice" and cpus["choices"] == ["1", "2", "4", "8", "16", "32"]
    mem = _question(spec.spec, "mem_size")  # scalar-unit.size with in_range: explained
    assert mem["type"] == "text" and "between 1 GB and 128 GB" in mem["question_description"]
    assert "unit" in mem["question_description"]
    secret = _question(spec.spec, "cluster_secret")
    assert secret["type"] == "password" and secret["default"] == "" and not secret["required"]
    assert "generated" in secret["question_description"]
    users = _question(spec.spec, "users")
    assert (
        users["type"] == "textarea"
        and "YAML or JSON, each item a infn.cloud.datatypes.User" in users["question_description"]
    )
    ports = _question(spec.spec, "service_ports")
    assert ports["type"] == "textarea" and json.loads(ports["default"])  # the default, as JSON
    warnings = "\n".join(spec.warnings)
    assert "'cluster_secret' has a pattern" in warnings  # patterns are listed
    assert "'service_ports' is a map" in warnings  # maps are listed


SYNTHETIC = """\
tosca_definitions_version: tosca_simple_yaml_1_0
description: inputs of every kind a survey maps
topology_template:
  inputs:
    enable_x:
      type: boolean
      default: true
    client_id:
      type: string
      constraints:
        - min_length: 3
        - max_length: 20
    ratio:
      type: float
      default: 0.5
      constraints:
        - greater_than: 0.0
        - less_or_equal: 1.0
    replicas:
      type: integer
      default: 2
      constraints:
        - greater_than: 0
        - less_than: 10
    groups:
      type: list
      entry_schema: {type: string}
      default: [a, b]
    size:
      type: scalar-unit.size
      default: 10 GB
      constraints:
        - valid_values: [10 GB, 20 GB]
    api_token:
      type: string
      default: ""
  node_templates:
    vm:
      type: tosca.nodes.Compute
"""


def test_boolean_numbers_lengths_and_lists(tmp_path):
    template = tmp_path / "kinds.yaml"
    template.write_text(SYNTHETIC)
    spec = survey_spec(str(template)).spec
    assert spec["description"] == "inputs of every kind a survey maps"
    flag = _question(spec, "enable_x")
    assert (flag["type"], flag["choices"], flag["default"]) == ("multiplechoice", ["true", "false"], "true")
    client = _question(spec, "client_id")  # string lengths: AWX checks min/max of text answers
    assert (client["type"], client["min"], client["max"], client["required"]) == ("text", 3, 20, True)
    ratio = _question(spec, "ratio")
    assert (ratio["type"], ratio["min"], ratio["max"]) == ("float", 0.0, 1.0)
    assert "greater than 0.0" in ratio["question_description"]  # not exact as a min: said
    replicas = _question(spec, "replicas")  # strict bounds on integers: exact
    assert (replicas["min"], replicas["max"]) == (1, 9)
    groups = _question(spec, "groups")
    assert groups["default"] == "a\nb" and "one item per line" in groups["question_description"]
    size = _question(spec, "size")
    assert size["choices"] == ["10 GB", "20 GB"]
    token = _question(spec, "api_token")
    assert token["type"] == "password" and token["default"] == ""
    answers = {q["variable"]: q.get("default", "") for q in spec["spec"]}
    answers[variable_name("client_id")] = "abc"
    inputs = inputs_from_answers(str(template), answers)
    assert inputs["enable_x"] is True and inputs["ratio"] == 0.5 and inputs["replicas"] == 2
    assert inputs["groups"] == ["a", "b"] and inputs["size"] == "10 GB"


def _answers_for(spec: dict, given: dict) -> dict:
    """The extra vars AWX sends for a filled survey: every question's default unless the user
    typed something; AWX sends text answers as strings, integer/float as numbers."""
    answers = {}
    for q in spec["spec"]:
        name = q["question_name"]
        if name in given:
            value = given[name]
            if isinstance(value, list):
                value = "\n".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif q["type"] not in ("integer", "float"):
                value = str(value)
            answers[q["variable"]] = value
        elif "default" in q:
            answers[q["variable"]] = q["default"]
    return answers


@pytest.mark.parametrize("name", CATALOGUE)
def test_survey_answers_become_the_plan_inputs(name):
    """survey spec variables -> extra vars -> plan inputs: the same plan inputs as the CLI's."""
    given = user_inputs(name)
    spec = survey_spec(name).spec
    inputs = inputs_from_answers(name, _answers_for(spec, given))
    via_survey = make_plan(name, inputs)["inputs"]
    via_cli = make_plan(name, given)["inputs"]
    secrets = set(make_plan(name, given)["secret_inputs"])
    assert {k: v for k, v in via_survey.items() if k not in secrets} == {
        k: v for k, v in via_cli.items() if k not in secrets
    }


@pytest.mark.parametrize("path", infn_templates()[:INFN_COUNT:4], ids=lambda p: p.name)
def test_infn_survey_answers_plan(path, infn_map):
    report = validate(str(path), import_map=infn_map)
    given = {**fill_required(report.required_inputs), **infn_user_inputs(path, report.inputs)}
    spec = survey_spec(str(path), import_map=infn_map).spec
    inputs = inputs_from_answers(str(path), _answers_for(spec, given), import_map=infn_map)
    assert make_plan(str(path), inputs, import_map=infn_map)["inputs"]


def test_answers_are_converted_to_the_input_types():
    inputs = inputs_from_answers(
        "htcondor_cluster",
        {
            variable_name("num_cpus"): "4",  # multiple choice: a string
            variable_name("num_execute_nodes"): 2,
            variable_name("users"): "- os_user_name: alice\n- os_user_name: bob\n",
            variable_name("service_ports"): '{"ssh": {"protocol": "tcp", "source": 22}}',
            variable_name("cluster_secret"): "",  # empty: generated
        },
    )
    assert inputs["num_cpus"] == 4 and inputs["num_execute_nodes"] == 2
    assert inputs["users"] == [{"os_user_name": "alice"}, {"os_user_name": "bob"}]
    assert inputs["service_ports"] == {"ssh": {"protocol": "tcp", "source": 22}}
    assert make_plan("htcondor_cluster", inputs)["secrets_to_generate"] == ["cluster_secret"]


def test_bad_answers_are_refused_with_the_variable_named():
    with pytest.raises(ValidationError) as caught:
        inputs_from_answers(
            "htcondor_cluster",
            {variable_name("num_execute_nodes"): "many", "infn_cloud_input_nope": "1"},
        )
    details = "\n".join(caught.value.details)
    assert "infn_cloud_input_num_execute_nodes (input 'num_execute_nodes'): expected an integer" in details
    assert "infn_cloud_input_nope: htcondor_cluster.yaml has no such input" in details


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "infn_cloud", "survey", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cli_prints_the_spec_and_warnings():
    done = _cli("htcondor_cluster")
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)
    assert spec == survey_spec("htcondor_cluster").spec
    assert "warning: htcondor_cluster.yaml: input 'service_ports' is a map" in done.stderr


def test_cli_errors(tmp_path):
    missing = _cli("no_such_template")
    assert (
        missing.returncode == 3 and "no_such_template" in missing.stderr and "Traceback" not in missing.stderr
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("tosca_definitions_version: tosca_simple_yaml_1_3\ntopology_template: [\n")
    broken = _cli(str(bad))
    assert broken.returncode == 2 and "bad.yaml" in broken.stderr and "Traceback" not in broken.stderr
    out = tmp_path / "survey.json"
    assert _cli("single_vm", "-o", str(out), "--quiet").returncode == 0
    assert json.loads(Path(out).read_text())["spec"]
