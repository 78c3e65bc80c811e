"""The execution environment definition: `ansible-builder create` accepts it and writes the build.

Also: the versions that must agree do (pyproject.toml, galaxy.yml, the collection's Python
requirement for EEs, the tarball the EE installs). Building the image is scripts/build-ee.sh
(docs/awx.md, "Execution environment"), not a unit test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_versions_agree():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert galaxy["version"] == version
    pins = [
        line
        for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
        if line[:1].isalpha()
    ]
    assert pins == [f"infn-cloud=={version}"]
    requirements = yaml.safe_load((ROOT / "ee" / "requirements.yml").read_text())
    assert [c["name"] for c in requirements["collections"]] == [f"/build/dist/infn-cloud-{version}.tar.gz"]


def test_ansible_builder_create_writes_the_build_context(tmp_path):
    # a copy of the definition with an empty ee/dist (scripts/build-ee.sh fills it with the artifacts)
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    shutil.copytree(ROOT / "ee", tmp_path / "ee", ignore=shutil.ignore_patterns("dist"))
    (tmp_path / "ee" / "dist").mkdir()
    builder = Path(sys.executable).parent / "ansible-builder"
    proc = subprocess.run(
        [builder, "create", "-f", "execution-environment.yml", "--context", "context"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert re.search(r'ARG EE_BASE_IMAGE="localhost/infn-cloud-ee-base:bookworm"', containerfile)
    assert 'ARG PKGMGR="/usr/local/bin/pkgmgr"' in containerfile
    # the collection from the tarball, infn-cloud from the wheel (find-links), in builder and final
    assert containerfile.count("ENV PIP_FIND_LINKS=/build/dist") == 2
    assert "ansible-galaxy collection install" in containerfile
    assert "RUN rm -rf /build/dist && infn-cloud templates" in containerfile
    galaxy_reqs = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert galaxy_reqs["collections"][0]["type"] == "file"
