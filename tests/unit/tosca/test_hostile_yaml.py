"""Hostile YAML: every file a user hands in is refused fast, with exit 2 and file:line.

Each case ran into a stall (20+ s, hundreds of MB), a RecursionError (exit 70) or another
traceback before the YAML limits of infn_cloud.tosca.yamlio (docs/tosca.md, "Untrusted
templates: the rules"). Every case goes through the CLI (`validate`, `plan`, `sites`).
"""

from __future__ import annotations

import os

import pytest
from hostile_lib import (
    COMPUTE,
    HEADER,
    TIME_BOUND,
    billion_laughs,
    cli,
    cli_process,
    deep_list,
    local_registry,
)

from infn_cloud.tosca.yamlio import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, MAX_NODES

ALIAS_BOMB = f"aliases may add at most {MAX_ALIAS_NODES} nodes"
TOO_DEEP = f"at most {MAX_DEPTH} levels are allowed"
TOO_BIG = "may be at most 1 MiB"
LIST_INPUT = "topology_template:\n  inputs:\n    x: {type: list, required: false}\n" + COMPUTE


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("INFN_CLOUD_IMPORT_MAP", raising=False)
    monkeypatch.chdir(tmp_path)


def refused(result, where: str, what: str) -> None:
    """Exit 2, `where` (file:line) and `what` (the rule) in the message, fast, no traceback."""
    assert result.rc == 2, result.text
    assert where in result.text, result.text
    assert what in result.text, result.text
    assert "Traceback" not in result.text and "internal error" not in result.text
    assert result.seconds < TIME_BOUND, f"took {result.seconds:.2f} s"


def template(tmp_path, body: str, extra_import: str | None = None):
    header = HEADER.replace("imports: [", f"imports: [{extra_import}, ") if extra_import else HEADER
    path = tmp_path / "t.yaml"
    path.write_text(header + body)
    return path


# -- alias bombs ("billion laughs") ---------------------------------------------------------
def test_alias_bomb_in_an_input_default_is_refused_by_validate(tmp_path, capsys):
    body = f"topology_template:\n  inputs:\n    x:\n      type: list\n      default: {billion_laughs()}\n"
    path = template(tmp_path, body + COMPUTE)
    refused(cli(capsys, "validate", path), "t.yaml:7:", ALIAS_BOMB)


def test_alias_bomb_in_metadata_is_refused_by_plan_at_the_real_entry_point(tmp_path):
    template(tmp_path, f"metadata:\n  display_name: {billion_laughs()}\ntopology_template:\n{COMPUTE}")
    result = cli_process(tmp_path, "plan", "t.yaml")
    refused(result, "t.yaml:4:", ALIAS_BOMB)


def test_alias_bomb_in_an_imported_types_file_names_that_file(tmp_path, capsys):
    (tmp_path / "types.yaml").write_text(
        "tosca_definitions_version: tosca_simple_yaml_1_0\n"
        "data_types:\n  my.Bomb:\n    derived_from: tosca.datatypes.Root\n"
        f"    metadata: {{payload: {billion_laughs()}}}\n"
    )
    path = template(tmp_path, f"topology_template:\n{COMPUTE}", extra_import="types.yaml")
    refused(cli(capsys, "validate", path), "types.yaml:5:", ALIAS_BOMB)


def test_alias_bomb_in_an_inputs_file_is_refused(tmp_path, capsys):
    path = template(tmp_path, LIST_INPUT)
    (tmp_path / "in.yaml").write_text(f"x: {billion_laughs()}\n")
    refused(cli(capsys, "plan", path, "-i", "in.yaml"), "inputs file in.yaml:1:", ALIAS_BOMB)


def test_alias_bomb_in_a_site_registry_is_refused(tmp_path, capsys):
    registry = local_registry(tmp_path)
    site = registry / "sites" / "LOCAL-BACKBONE.yml"
    site.write_text(site.read_text() + f"description: {billion_laughs()}\n")
    result = cli(capsys, "sites", "--registry", registry)
    refused(result, "LOCAL-BACKBONE.yml:", ALIAS_BOMB)


def test_alias_count_is_bounded_even_when_each_alias_is_small(tmp_path, capsys):
    aliases = ", ".join(["*x"] * 150)
    path = template(
        tmp_path,
        f"metadata:\n  one: &x 1\n  many: [{aliases}]\ntopology_template:\n{COMPUTE}",
    )
    refused(cli(capsys, "validate", path), "t.yaml:5:", "at most 100 aliases are allowed")


def test_recursive_alias_is_refused_instead_of_recursing_forever(tmp_path, capsys):
    path = template(
        tmp_path, f"topology_template:\n  inputs:\n    x: {{type: list, default: &loop [*loop]}}\n{COMPUTE}"
    )
    refused(cli(capsys, "plan", path), "t.yaml:5:", "recursive aliases are not allowed")


# -- deep nesting -----------------------------------------------------------------------------
def test_deep_nesting_in_an_input_default_is_refused(tmp_path, capsys):
    path = template(
        tmp_path,
        f"topology_template:\n  inputs:\n    x: {{type: list, default: {deep_list(600)}}}\n{COMPUTE}",
    )
    refused(cli(capsys, "validate", path), "t.yaml:5:", TOO_DEEP)


def test_deep_nesting_in_metadata_is_refused_by_plan(tmp_path, capsys):
    path = template(tmp_path, f"metadata:\n  deep: {deep_list(600)}\ntopology_template:\n{COMPUTE}")
    refused(cli(capsys, "plan", path), "t.yaml:4:", TOO_DEEP)


def test_deep_nesting_in_block_style_is_refused_too(tmp_path, capsys):
    nested = "".join("  " * (level + 1) + f"k{level}:\n" for level in range(600)) + "  " * 601 + "end\n"
    path = template(tmp_path, f"metadata:\n{nested}topology_template:\n{COMPUTE}")
    refused(cli(capsys, "validate", path), f"t.yaml:{3 + MAX_DEPTH}:", TOO_DEEP)


def test_deep_nesting_in_an_imported_types_file_is_refused(tmp_path, capsys):
    (tmp_path / "types.yaml").write_text(
        f"tosca_definitions_version: tosca_simple_yaml_1_0\nmetadata: {{deep: {deep_list(600)}}}\n"
    )
    path = template(tmp_path, f"topology_template:\n{COMPUTE}", extra_import="types.yaml")
    refused(cli(capsys, "validate", path), "types.yaml:2:", TOO_DEEP)


def test_deep_nesting_in_an_inputs_file_is_refused(tmp_path, capsys):
    path = template(tmp_path, LIST_INPUT)
    (tmp_path / "in.yaml").write_text(f"x: {deep_list(600)}\n")
    refused(cli(capsys, "plan", path, "-i", "in.yaml"), "inputs file in.yaml:1:", TOO_DEEP)


def test_deep_nesting_in_a_site_registry_is_refused(tmp_path, capsys):
    registry = local_registry(tmp_path)
    site = registry / "sites" / "LOCAL-FEDERATED.yml"
    site.write_text(site.read_text() + f"description: {deep_list(1000)}\n")
    refused(cli(capsys, "sites", "--registry", registry), "LOCAL-FEDERATED.yml:", TOO_DEEP)


def test_deep_set_value_is_read_as_text_not_parsed_recursively(tmp_path, capsys):
    path = template(
        tmp_path, f"topology_template:\n  inputs:\n    n: {{type: integer, default: 1}}\n{COMPUTE}"
    )
    result = cli(capsys, "validate", path, "--set", f"n={deep_list(5000)}")
    refused(result, "--set: input 'n'", "expected an integer")


def test_python_inputs_nested_too_deep_are_refused_by_the_api(tmp_path):
    from infn_cloud.errors import ValidationError
    from infn_cloud.tosca import make_plan

    path = template(tmp_path, LIST_INPUT)
    value: list = []
    for _ in range(2000):
        value = [value]
    with pytest.raises(ValidationError, match=TOO_DEEP.replace(" levels", "")):
        make_plan(path, {"x": value})


# -- size, values Python cannot hold, encodings --------------------------------------------------
def test_document_over_one_mib_is_refused_without_reading_it_all(tmp_path, capsys):
    filler = "".join(f"  k{i}: '{'x' * 100}'\n" for i in range(12000))  # ~1.4 MiB
    path = template(tmp_path, f"metadata:\n{filler}topology_template:\n{COMPUTE}")
    assert path.stat().st_size > MAX_BYTES
    refused(cli(capsys, "validate", path), "t.yaml:", TOO_BIG)


def test_inputs_file_over_one_mib_is_refused(tmp_path, capsys):
    path = template(
        tmp_path, f"topology_template:\n  inputs:\n    x: {{type: string, required: false}}\n{COMPUTE}"
    )
    (tmp_path / "in.yaml").write_text("x: '" + "y" * (MAX_BYTES + 10) + "'\n")
    refused(cli(capsys, "validate", path, "-i", "in.yaml"), "inputs file in.yaml:1:", TOO_BIG)


def test_too_many_nodes_in_a_small_document_are_refused(tmp_path, capsys):
    many = ",".join(["1"] * (MAX_NODES + 10))
    path = template(tmp_path, f"metadata:\n  many: [{many}]\ntopology_template:\n{COMPUTE}")
    refused(cli(capsys, "validate", path), "t.yaml:4:", f"at most {MAX_NODES} are allowed")


def test_integer_python_cannot_convert_is_a_yaml_error_with_its_line(tmp_path, capsys):
    path = template(
        tmp_path, f"topology_template:\n  inputs:\n    n: {{type: integer, default: {'9' * 5000}}}\n{COMPUTE}"
    )
    refused(cli(capsys, "validate", path), "t.yaml:5:", "as an integer: Exceeds the limit (4300 digits)")


def test_impossible_date_is_a_yaml_error_with_its_line(tmp_path, capsys):
    path = template(tmp_path, f"metadata:\n  released: 2001-13-45\ntopology_template:\n{COMPUTE}")
    refused(cli(capsys, "plan", path), "t.yaml:4:", "as a timestamp: month must be in 1..12")


def test_inputs_file_that_is_not_utf8_is_refused(tmp_path, capsys):
    path = template(tmp_path, f"topology_template:\n{COMPUTE}")
    (tmp_path / "in.yaml").write_bytes(b"x: \xff\xfe\n")
    refused(cli(capsys, "validate", path, "-i", "in.yaml"), "inputs file in.yaml", "not a UTF-8 text file")


def test_registry_file_that_is_not_utf8_is_refused(tmp_path, capsys):
    registry = local_registry(tmp_path)
    (registry / "sites" / "LOCAL-FEDERATED.yml").write_bytes(b"name: LOCAL-FEDERATED\ndescription: \xff\n")
    refused(cli(capsys, "sites", "--registry", registry), "LOCAL-FEDERATED.yml", "not a UTF-8 text file")


# -- what the engine walks after loading ------------------------------------------------------------
def test_long_requirement_chain_plans_without_recursion(tmp_path, capsys):
    nodes = "".join(
        f"    n{i}:\n      type: tosca.nodes.SoftwareComponent\n"
        f"      requirements:\n        - dependency: n{i + 1}\n"
        for i in range(600)
    )
    path = template(
        tmp_path, f"topology_template:\n  node_templates:\n{nodes}    n600: {{type: tosca.nodes.Root}}\n"
    )
    result = cli(capsys, "plan", path, "--json")
    assert result.rc in (0, 4), result.text  # 4: no local site takes it; the plan itself is made
    assert "RecursionError" not in result.text
    assert '"n0"' in result.out and result.seconds < TIME_BOUND


def test_get_property_chain_is_bounded(tmp_path, capsys):
    nodes = "".join(
        f"    p{i}:\n      type: tosca.nodes.SoftwareComponent\n      properties:\n"
        f"        component_version: {{get_property: [p{i + 1}, component_version]}}\n"
        for i in range(300)
    )
    nodes += (
        "    p300:\n      type: tosca.nodes.SoftwareComponent\n      properties: {component_version: '1'}\n"
    )
    path = template(tmp_path, f"topology_template:\n  node_templates:\n{nodes}")
    refused(cli(capsys, "plan", path), "t.yaml:", "get_property follows more than 64 properties")


def test_derived_from_chain_is_bounded(tmp_path, capsys):
    types = "node_types:\n  t0: {derived_from: tosca.nodes.SoftwareComponent}\n" + "".join(
        f"  t{i}: {{derived_from: t{i - 1}}}\n" for i in range(1, 3000)
    )
    path = template(tmp_path, f"{types}topology_template:\n  node_templates:\n    x: {{type: t2999}}\n")
    refused(cli(capsys, "validate", path), "t.yaml:", "derives from more than 64 types")


def test_node_template_count_is_bounded(tmp_path, capsys):
    nodes = "".join(f"    c{i}: {{type: tosca.nodes.Compute}}\n" for i in range(1500))
    path = template(tmp_path, f"topology_template:\n  node_templates:\n{nodes}")
    refused(cli(capsys, "plan", path), "t.yaml:4:", "a template may have at most 1000")


# -- patterns that backtrack for minutes -------------------------------------------------------------
def slow_input(name: str, length: int) -> str:
    """An input whose default makes the pattern (a+)+$ backtrack 2**length times."""
    value = "a" * length + "!"
    return f"    {name}: {{type: string, default: '{value}', constraints: [{{pattern: '(a+)+$'}}]}}\n"


def test_catastrophic_pattern_is_stopped_and_named(tmp_path, capsys):
    path = template(tmp_path, f"topology_template:\n  inputs:\n{slow_input('x', 40)}{COMPUTE}")
    refused(cli(capsys, "validate", path), "t.yaml:5:", "takes too long to match")


def test_many_slow_patterns_share_one_time_budget(tmp_path, capsys):
    inputs = "".join(slow_input(f"x{i}", 20) for i in range(80))  # ~0.1 s each, 8 s in all
    path = template(tmp_path, f"topology_template:\n  inputs:\n{inputs}{COMPUTE}")
    result = cli(capsys, "validate", path)
    assert result.rc == 2, result.text
    assert "takes too long to match" in result.text
    # Each match alone may stay under its bound; together they stop at the analysis' budget.
    assert result.seconds < 4.0, f"took {result.seconds:.2f} s"


def test_registry_site_file_that_is_a_fifo_does_not_block(tmp_path, capsys):
    registry = local_registry(tmp_path)
    os.mkfifo(registry / "sites" / "LOCAL-EXTRA.yml")  # opening it for reading used to wait forever
    refused(cli(capsys, "sites", "--registry", registry), "LOCAL-EXTRA.yml", "not a regular file")


# -- a template and everything it imports ----------------------------------------------------------------
def test_number_of_imported_files_is_bounded(tmp_path, capsys):
    for i in range(70):
        (tmp_path / f"t{i}.yaml").write_text("tosca_definitions_version: tosca_simple_yaml_1_0\n")
    imports = ", ".join(f"t{i}.yaml" for i in range(70))
    path = template(tmp_path, f"topology_template:\n{COMPUTE}", extra_import=imports)
    refused(cli(capsys, "validate", path), "t.yaml:2:", "imports more than 64 files")


def test_nodes_of_a_template_and_its_imports_are_bounded_together(tmp_path, capsys):
    many = ",".join(["1"] * 19_000)  # each file under the per-document limit, 57,000 together
    for i in range(3):
        (tmp_path / f"big{i}.yaml").write_text(
            f"tosca_definitions_version: tosca_simple_yaml_1_0\nmetadata: {{many: [{many}]}}\n"
        )
    path = template(
        tmp_path, f"topology_template:\n{COMPUTE}", extra_import="big0.yaml, big1.yaml, big2.yaml"
    )
    refused(cli(capsys, "validate", path), "big2.yaml:2:", "at most 50000 are allowed")
