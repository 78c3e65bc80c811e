"""The Jenkins pipeline's stages (examples/jenkins/stage.sh, which the Jenkinsfile runs) with the real CLI.

validate: the JUnit report has one testcase per template and the stage fails (exit 2) when a
template is broken; plan: every catalogue template plans on the local registry, a broken one
fails the stage. The deploy and delete stages are the CLI's `deploy --site --json` and
`delete --json`, run end to end from an installed wheel by test_installed.py; they are run
here only for their bookkeeping (no deploy): delete without a deployment id does nothing.
No Jenkins server runs here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
STAGE = ROOT / "examples" / "jenkins" / "stage.sh"
CATALOGUE = sorted(p.stem for p in (ROOT / "tosca_templates").glob("*.yaml"))


def _stage(tmp_path: Path, templates: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "INFN_CLOUD": str(Path(sys.executable).parent / "infn-cloud"),
        "TEMPLATES_DIR": str(templates),
        "REPORTS": str(tmp_path / "reports"),
        "INFN_CLOUD_STATE_DIR": str(tmp_path / "state"),
        "INFN_CLOUD_REGISTRY": str(ROOT / "inventories" / "local"),
    }
    return subprocess.run(
        ["bash", str(STAGE), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture
def templates(tmp_path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "tosca_templates", folder)
    return folder


def _testcases(report: Path) -> dict[str, bool]:
    """testcase name -> passed, from a JUnit XML file."""
    cases = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - our own report
        failed = case.find("failure") is not None or case.find("error") is not None
        cases[case.get("name")] = not failed
    return cases


def test_validate_stage_reports_each_template_and_passes(tmp_path, templates):
    proc = _stage(tmp_path, templates, "validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = _testcases(tmp_path / "reports" / "validate.xml")
    assert len(cases) == len(CATALOGUE)
    assert all(cases.values()), cases
    assert all(any(name in case for case in cases) for name in CATALOGUE), cases


def test_validate_stage_fails_with_exit_2_on_a_broken_template(tmp_path, templates):
    broken = templates / "single_vm.yaml"
    broken.write_text(broken.read_text().replace("type: integer", "type: no.such.Type", 1))
    proc = _stage(tmp_path, templates, "validate")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    cases = _testcases(tmp_path / "reports" / "validate.xml")
    failed = [name for name, ok in cases.items() if not ok]
    assert len(failed) == 1 and "single_vm" in failed[0], cases


def test_plan_stage_plans_every_template_and_fails_on_a_broken_one(tmp_path, templates):
    proc = _stage(tmp_path, templates, "plan")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in CATALOGUE:
        assert f"plan {name}: site LOCAL-" in proc.stdout, proc.stdout
    (templates / "single_vm.yaml").write_text("tosca_definitions_version: nonsense\n")
    proc = _stage(tmp_path, templates, "plan")
    assert proc.returncode == 1
    assert "plan single_vm: failed with exit 2" in proc.stdout, proc.stdout


def test_delete_stage_without_a_deployment_does_nothing(tmp_path, templates):
    proc = _stage(tmp_path, templates, "delete")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to delete" in proc.stdout
    assert _stage(tmp_path, templates, "nonsense").returncode == 64
