"""`infn-cloud validate` for catalogue authors and template repositories (issues 17 and 14):
several templates and folders, warnings on stderr and in --json, --strict, --junit."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tosca_testlib import REPO

from infn_cloud.cli import main

FOREIGN = Path(__file__).parent / "foreign_corpus"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_our_catalogue_passes_strict(capsys):
    templates = [str(p) for p in sorted((REPO / "tosca_templates").glob("*.yaml"))]
    assert main(["validate", "--strict", *templates]) == 0
    out = capsys.readouterr()
    assert out.err == "" and f"{len(templates)} of {len(templates)} template(s) valid" in out.out


def test_warnings_go_to_stderr_errors_to_stdout(capsys):
    assert main(["validate", str(FOREIGN / "f03_quoted_numbers.yaml")]) == 0
    out = capsys.readouterr()
    assert "quoted number read as the integer 8080" in out.err
    assert "warning:" not in out.out and "f03_quoted_numbers.yaml: valid (4 warning(s))" in out.out
    assert main(["validate", str(FOREIGN / "f05_two_hosts.yaml")]) == 2
    out = capsys.readouterr()
    assert "error: " in out.out and "is given 2 times" in out.out and out.err == ""


def test_strict_makes_warnings_errors(capsys):
    path = str(FOREIGN / "f01_unused_broken_types.yaml")
    assert main(["validate", path, "--strict", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and data["strict"] is True and data["warnings"] == []
    (error,) = data["errors"]
    assert error["rule"] == "unused types" and error["text"].endswith("[--strict]")
    assert "imported by tests/unit/tosca/foreign_corpus/f01_unused_broken_types.yaml:4" in error["text"]


def test_json_lists_the_warnings(capsys):
    assert main(["validate", str(FOREIGN / "f10_placement_policies.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True and len(data["warnings"]) == 3
    assert {w["rule"] for w in data["warnings"]} == {"placement", "unused types"}


def test_several_templates_show_a_types_file_warning_once(capsys):
    names = ["f01_unused_broken_types", "f07_declared_occurrences", "f08_node_type_requirement"]
    assert main(["validate", *(str(FOREIGN / f"{n}.yaml") for n in names)]) == 2
    out = capsys.readouterr()
    assert out.err.count("problem(s) in types the template does not use") == 1
    assert out.err.count("1 types-file warning(s) as above, not repeated") == 2
    assert "2 of 3 template(s) valid" in out.out


def test_several_templates_in_json(capsys):
    paths = [str(FOREIGN / "f02_short_names.yaml"), str(FOREIGN / "f12_yaml_spelling.yaml")]
    assert main(["validate", *paths, "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert [(r["template"], r["valid"]) for r in data["templates"]] == [(paths[0], True), (paths[1], False)]


def test_junit_report_of_a_folder(tmp_path, capsys):
    folder = tmp_path / "repo"
    shutil.copytree(FOREIGN, folder)
    (folder / "cases.yaml").unlink()  # not a template; types/library.yaml is skipped by itself
    (folder / "bad\x01name.yaml").write_text("tosca_definitions_version: nope\ntopology_template: {}\n")
    report = tmp_path / "junit.xml"
    assert main(["validate", str(folder), "--junit", str(report)]) == 2
    capsys.readouterr()
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - the report this test wrote
    cases = {Path(c.get("name")).stem: c for c in suite.findall("testcase")}
    assert len(cases) == 14 and suite.get("tests") == "14" and "library" not in cases
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {
        "f05_two_hosts",
        "f07_declared_occurrences",
        "f11_used_broken_type",
        "f12_yaml_spelling",
        "bad\\x01name",
    }
    assert suite.get("failures") == "5" and suite.get("errors") == "0"
    failure = cases["f05_two_hosts"].find("failure")
    assert failure.get("type") == "invalid" and "is given 2 times" in failure.text
    assert "quoted number read as the integer 8080" in cases["f03_quoted_numbers"].find("system-err").text
    assert all(float(c.get("time")) >= 0 for c in cases.values())


def test_junit_strict_and_a_missing_template(tmp_path, capsys):
    report = tmp_path / "junit.xml"
    args = [
        "validate",
        "--strict",
        "--junit",
        str(report),
        str(FOREIGN / "f03_quoted_numbers.yaml"),
        "nope.yaml",
    ]
    assert main(args) == 2
    capsys.readouterr()
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - the report this test wrote
    quoted, missing = suite.findall("testcase")
    assert "[--strict]" in quoted.find("failure").text
    assert missing.find("error").get("type") == "not found"
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    assert main(["validate", "--junit", str(report), "nope.yaml"]) == 3


def test_junit_into_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["validate", "single_vm", "--junit", str(tmp_path / "no" / "j.xml")]) == 64
    assert "--junit" in capsys.readouterr().err


def test_a_folder_without_templates_is_a_usage_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 64
    assert "holds no TOSCA template" in capsys.readouterr().err
