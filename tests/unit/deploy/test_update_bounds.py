"""min_instances/max_instances of a Scalable capability are enforced when the template declares
them (plan and update re-plan alike): a count outside is an invalid input, exit 2."""

from __future__ import annotations

import pytest

from infn_cloud.cli import main
from infn_cloud.errors import ValidationError
from infn_cloud.tosca import make_plan

TEMPLATE = """\
tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    n: {type: integer, default: 2}
  node_templates:
    workers:
      type: tosca.nodes.Compute
      capabilities:
        scalable:
          properties: {default_instances: {get_input: n}, min_instances: 1, max_instances: 3}
        os:
          properties: {distribution: debian, version: "12"}
"""


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "scalable.yaml"
    path.write_text(TEMPLATE)
    return str(path)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_count_within_the_bounds_plans(template, count):
    assert make_plan(template, {"n": count})["compute"]["workers"]["count"] == count


@pytest.mark.parametrize(("count", "side"), [(0, "below"), (4, "above")])
def test_a_count_outside_the_bounds_names_the_node_and_the_bounds(template, count, side):
    with pytest.raises(ValidationError) as caught:
        make_plan(template, {"n": count})
    message = caught.value.message
    assert "scalable.yaml:6: node 'workers'" in message
    assert f"count {count} is {side} its scalable bounds (min_instances 1, max_instances 3)" in message


def test_the_cli_exits_2_without_a_traceback(template, capsys):
    assert main(["plan", template, "--set", "n=9"]) == 2
    err = capsys.readouterr().err
    assert "node 'workers': count 9 is above" in err and "Traceback" not in err


def test_undeclared_bounds_are_not_enforced(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE.replace(", min_instances: 1, max_instances: 3", ""))
    assert make_plan(str(path), {"n": 7})["compute"]["workers"]["count"] == 7
