"""Foreign TOSCA (issue 17): templates in the style of the INDIGO and IM catalogues.

The corpus (tests/unit/tosca/foreign_corpus, our own templates and type library) exercises each
case the production parsers accept and this engine used to refuse, or refuse silently: every
template's errors and warnings are exactly the expected ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tosca_testlib import REPO

from infn_cloud.tosca import make_plan, validate
from infn_cloud.tosca.loader import load
from infn_cloud.tosca.model import Collector
from infn_cloud.tosca.validate import UNUSED_TYPES_RULE, analyse

FOREIGN = Path(__file__).parent / "foreign_corpus"
CASES = yaml.safe_load((FOREIGN / "cases.yaml").read_text())


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # messages show paths relative to the working directory


def _matches(expected: list[str], problems) -> None:
    texts = [p.format() for p in problems]
    for text in expected:
        assert sum(text in t for t in texts) == 1, (text, texts)
    assert len(texts) == len(expected), texts


@pytest.mark.parametrize("name", sorted(CASES))
def test_foreign_template_reports_exactly_the_expected_problems(name):
    case = CASES[name]
    report = validate(FOREIGN / f"{name}.yaml")
    _matches(case["errors"], report.errors)
    _matches(case["warnings"], report.warnings)
    unused = [w for w in report.warnings if w.rule == UNUSED_TYPES_RULE]
    if "unused" in case:
        assert len(unused) == 1 and unused[0].message.startswith(f"{case['unused']} problem(s)")
        assert unused[0].file.endswith("types/library.yaml") and unused[0].line > 0
    else:
        assert unused == []


def test_corpus_covers_each_case_of_the_issue():
    assert len(CASES) >= 13
    assert any(c["errors"] for c in CASES.values()) and any(not c["errors"] for c in CASES.values())


def test_unused_types_warning_lists_each_problem_with_its_line():
    report = validate(FOREIGN / "f01_unused_broken_types.yaml")
    (warning,) = report.warnings
    for line, text in (
        (
            21,
            "data type 'acme.datatypes.Quoted' property 'size' default value 'not a number': expected an "
            "integer",
        ),
        (48, "node type 'acme.nodes.Broken': derives from unknown type 'acme.nodes.Missing'"),
        (52, "unknown entry_schema type 'acme.datatypes.NeverDefined'"),
        (56, "property 'threshold' default value many: expected an integer"),
    ):
        assert f"line {line}: " in warning.message and text in warning.message, warning.message
    assert warning.message.index("line 21") < warning.message.index("line 48")  # in file order


def test_coerced_values_are_planned_as_the_declared_type():
    plan = make_plan(FOREIGN / "f03_quoted_numbers.yaml")
    assert plan["inputs"]["port"] == 8080 and plan["inputs"]["ratio"] == 0.5
    assert plan["inputs"]["debug"] is True
    assert plan["compute"]["server"]["num_cpus"] == 2


def test_a_requirement_naming_a_node_type_resolves_to_its_one_node_template():
    plan = make_plan(FOREIGN / "f08_node_type_requirement.yaml")
    hosts = {entry["node"]: entry["hosts"] for entry in plan["software"]}
    assert hosts["manager"] == ["server"]
    assert plan["waves"] == [["server"], ["manager"], ["worker"]]  # worker waits for its manager


def test_placement_policies_are_kept_with_targets_and_properties():
    sink = Collector()
    template = load(FOREIGN / "f10_placement_policies.yaml", sink=sink)
    analysis = analyse(template, sink)
    assert analysis.policies == [
        {
            "name": "front_sla",
            "type": "acme.policies.SlaPlacement",
            "placement": True,
            "targets": ["front"],
            "properties": {"sla_id": "4401ac5dc8cfbbb737b0a02575e6f4bc", "sites": ["cnaf"]},
        },
        {
            "name": "back_zone",
            "type": "tosca.policies.Placement",
            "placement": True,
            "targets": ["back"],
            "properties": {"availability_zone": "nova-2"},
        },
    ]


def test_one_policy_for_every_node_reading_sites_only_is_not_warned_about(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n"
        "    a: {type: tosca.nodes.Compute}\n"
        "    app: {type: tosca.nodes.SoftwareComponent, requirements: [{host: a}]}\n"
        "  policies:\n    - p: {type: tosca.policies.Placement, targets: [app], properties: {sites: [x]}}\n"
    )
    report = validate(path)
    assert report.errors == [] and report.warnings == []
    assert make_plan(path)["placement"]["sites"] == ["x"]


def test_our_catalogue_has_no_warning():
    """`infn-cloud validate --strict tosca_templates` must pass: CI runs it."""
    for path in sorted((REPO / "tosca_templates").glob("*.yaml")):
        report = validate(path)
        assert (path.name, report.errors, report.warnings) == (path.name, [], [])


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (False, "false"),
        (None, "null"),
        ("-1", "'-1'"),
        ("true", "'true'"),
        (-1, "-1"),
        ("a b", "'a b'"),
        ("plain", "plain"),
        ([1, "x", True], "[1, x, true]"),
        ({"port": "80"}, "{port: '80'}"),
        ("two\nlines\x1b", '"two\\nlines\\e"'),  # one line, control characters escaped
    ],
)
def test_values_are_shown_as_yaml_writes_them(value, shown):
    from infn_cloud.tosca.model import yaml_text

    assert yaml_text(value) == shown


def test_infn_templates_gain_no_error_and_no_warning_of_the_new_checks(reference, infn_import_map):
    """INFN's 32 templates keep validating: the foreign-catalogue checks find nothing there."""
    new_rules = {UNUSED_TYPES_RULE, "occurrences", "placement", "requirement", "unknown type"}
    templates = sorted((reference / "infn-tosca-templates").rglob("*.yaml"))
    assert len(templates) == 32
    for path in templates:
        report = validate(path, import_map=infn_import_map)
        assert report.errors == [], path
        assert [w.format() for w in report.warnings if w.rule in new_rules] == [], path
        coerced = [
            w for w in report.warnings if w.message.startswith(("quoted ", "boolean used as a string"))
        ]
        assert coerced == [], path
