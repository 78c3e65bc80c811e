"""Defects of tosca-parser 2.15 that the engine works around, each demonstrated.

If tosca-parser gets fixed, the "defect" half of a test fails: then the workaround can go.
"""

from __future__ import annotations

import re

import pytest
from catalogue_inputs import infn_user_inputs
from tosca_testlib import reference_dir
from toscaparser import tosca_template as toscaparser  # a dependency: missing is an error, not a skip

from infn_cloud.tosca import make_plan, validate

INPUT_CONSTRAINT_TEMPLATE = """
tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    num_cpus:
      type: integer
      default: 1
      constraints:
        - less_or_equal: 32
  node_templates:
    server:
      type: tosca.nodes.Compute
      capabilities:
        host:
          properties:
            num_cpus: {get_input: num_cpus}
"""


def _localised(path, tmp_path):
    """Copy an INFN template with its URL imports rewritten to local files (tosca-parser would fetch)."""
    types = reference_dir() / "infn-tosca-types"
    text = path.read_text()
    text = re.sub(r"https://baltig\.infn\.it/infn-cloud/tosca-types/raw/[^/]+/", f"{types}/", text)
    local = tmp_path / path.name
    local.write_text(text)
    # the type files import each other by URL too
    for types_file in types.rglob("*.yaml"):
        target = tmp_path / "types" / types_file.relative_to(types)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            re.sub(
                r"https://baltig\.infn\.it/infn-cloud/tosca-types/raw/[^/]+/",
                f"{tmp_path / 'types'}/",
                types_file.read_text(),
            )
        )
    local.write_text(text.replace(f"{types}/", f"{tmp_path / 'types'}/"))
    return local


def test_get_attribute_validation_crashes_tosca_parser_but_not_us(tmp_path, infn_import_map):
    path = reference_dir() / "infn-tosca-templates" / "jupyter" / "jupyter_vm.yaml"
    local = _localised(path, tmp_path)
    # defect: AttributeError: 'list' object has no attribute 'name' (from get_attribute validation)
    with pytest.raises(Exception) as info:
        toscaparser.ToscaTemplate(str(local))
    assert "has no attribute 'name'" in str(info.value) or "get_attribute" in str(info.value)
    # workaround: our own function resolution; get_attribute stays an expression in the plan
    report = validate(path, import_map=infn_import_map)
    assert report.errors == []
    plan = make_plan(path, infn_user_inputs(path, report.inputs), import_map=infn_import_map)
    assert plan["outputs"]["node_ip"]["value"] == {"get_attribute": ["vm_server", "public_address", 0]}


def test_tosca_parser_does_not_check_input_constraints(tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text(INPUT_CONSTRAINT_TEMPLATE)
    # defect: a value breaking less_or_equal 32 is accepted
    parsed = toscaparser.ToscaTemplate(str(template), parsed_params={"num_cpus": 64})
    assert parsed.inputs
    # workaround: every operator is evaluated, with file, subject, value and rule
    report = validate(template, {"num_cpus": 64}, require_inputs=True)
    assert [(e.subject, e.value, e.rule) for e in report.errors] == [
        ("input 'num_cpus'", 64, "less_or_equal 32")
    ]


def test_tosca_parser_would_fetch_url_imports_we_refuse(tmp_path, monkeypatch):
    monkeypatch.delenv("INFN_CLOUD_IMPORT_MAP", raising=False)
    template = tmp_path / "t.yaml"
    template.write_text(
        "tosca_definitions_version: tosca_simple_yaml_1_0\n"
        "imports:\n  - https://198.51.100.1/types.yaml\n"
        "topology_template:\n  node_templates:\n    s: {type: tosca.nodes.Compute}\n"
    )
    report = validate(template)
    assert [e.subject for e in report.errors] == ["import 'https://198.51.100.1/types.yaml'"]
    assert "nothing is fetched" in report.errors[0].message
