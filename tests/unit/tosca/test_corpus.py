"""Every broken template/input of the corpus fails with the expected message, no traceback."""

from __future__ import annotations

import pytest
import yaml
from tosca_testlib import CORPUS

from infn_cloud.cli import main
from infn_cloud.errors import ValidationError
from infn_cloud.tosca import make_plan, validate

CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def test_corpus_is_big_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_case_reports_expected_problem(name):
    case = CASES[name]
    path = CORPUS / f"{name}.yaml"
    inputs = case.get("inputs")
    report = validate(path, inputs=inputs, require_inputs=inputs is not None)
    texts = [p.format() for p in report.errors]
    assert not report.valid
    assert any(case["expect"] in text for text in texts), texts
    assert all(p.line > 0 for p in report.errors if p.file.endswith(f"{name}.yaml")), texts
    with pytest.raises(ValidationError) as info:
        make_plan(path, inputs or {})
    assert info.value.details


@pytest.mark.parametrize("name", sorted(CASES)[:45:4])
def test_cli_exit_code_2_without_traceback(name, tmp_path, capsys):
    case = CASES[name]
    argv = ["validate", str(CORPUS / f"{name}.yaml")]
    if case.get("inputs") is not None:
        inputs = tmp_path / "inputs.yaml"
        inputs.write_text(yaml.safe_dump(case["inputs"]))
        argv += ["-i", str(inputs)]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert case["expect"] in out.out
