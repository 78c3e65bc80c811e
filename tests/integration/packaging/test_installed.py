"""Installed use, no checkout: the built wheel and the built Galaxy tarball are all a user needs.

Once per module: the wheel (`pip wheel .`) and the tarball (`ansible-galaxy collection build`)
are built from this checkout; a fresh venv (no system site-packages) gets the wheel with
`pip install` (dependencies from a local wheel folder filled from the package index once and
kept in ~/.cache/infn-cloud-tests/wheelhouse) and the tarball goes in with `ansible-galaxy
collection install` into a fresh collections folder. Every command then runs from an empty
folder with a clean environment: the venv's bin on PATH, a fresh HOME (so the default state
directory and vault password), no INFN_CLOUD_HOME, nothing of this checkout.

Checked: the package finds the collection the wheel installed (not this checkout);
`infn-cloud templates`, `sites`, `plan`; single_vm deployed and deleted on the local site
with the CLI, and with `ansible-playbook` of the Galaxy-installed collection's playbooks
(infn.cloud.provision then infn.cloud.deprovision; the one-job infn.cloud.deploy, which also
configures the VM and keeps the record in a state directory, then infn.cloud.delete), nothing
left on the site.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prereq import missing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
LABEL = "org.infn.cloud.deployment"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WHEELHOUSE = Path.home() / ".cache" / "infn-cloud-tests" / "wheelhouse"
DEPLOY_TIMEOUT = 2400  # a deploy takes 1-3 min on a quiet machine; a loaded shared one took over 15
CATALOGUE = sorted(p.stem for p in (ROOT / "tosca_templates").glob("*.yaml"))


def _run(cmd: list, *, timeout: int = 900, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{cmd}: rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _leftovers(deployment_id: str) -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={LABEL}={deployment_id}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    volumes = subprocess.run(
        ["podman", "volume", "ls", "--filter", f"label={LABEL}={deployment_id}", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out + volumes


class Installed:
    """A fresh venv with the wheel, a collections folder with the tarball, an empty cwd."""

    def __init__(self, base: Path):
        self.base = base
        self.venv = base / "venv"
        self.collections = base / "collections"
        self.work = base / "work"
        self.home = base / "home"
        for folder in (self.work, self.home):
            folder.mkdir()
        self.env = {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{SYSTEM_PATH}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
        }
        self.created: list[str] = []

    def run(self, *args, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.work,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *args, timeout: int = 900) -> tuple[int, object, str]:
        proc = self.run("infn-cloud", *args, "--json", timeout=timeout)
        try:
            return proc.returncode, json.loads(proc.stdout), proc.stderr
        except ValueError:
            raise AssertionError(f"not JSON (rc {proc.returncode}): {proc.stdout}\n{proc.stderr}") from None


def _build(dist: Path) -> tuple[Path, Path]:
    bin_dir = Path(sys.executable).parent
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT], cwd=ROOT)
    _run([bin_dir / "ansible-galaxy", "collection", "build", "--output-path", dist, ROOT], cwd=ROOT)
    (wheel,) = dist.glob("infn_cloud-*.whl")
    (tarball,) = dist.glob("infn-cloud-*.tar.gz")
    return wheel, tarball


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    if shutil.which("podman") is None:
        missing("podman is not installed (scripts/setup.sh installs it)")
    if subprocess.run(["podman", "image", "exists", "localhost/debian:trixie"], check=False).returncode:
        missing("the image localhost/debian:trixie is missing (scripts/test-hosts.sh builds it)")
    base = tmp_path_factory.mktemp("installed")
    dist = base / "dist"
    started = time.monotonic()
    wheel, tarball = _build(dist)
    # Dependencies as wheels, fetched from the index once and kept between runs.
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "-w", WHEELHOUSE, "--find-links", WHEELHOUSE, wheel])
    for stale in WHEELHOUSE.glob("infn_cloud-*.whl"):
        stale.unlink()
    env = Installed(base)
    _run([sys.executable, "-m", "venv", env.venv])
    pip = [env.venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-compile"]
    _run([*pip, "--no-index", "--find-links", WHEELHOUSE, wheel], cwd=env.work)
    galaxy = env.venv / "bin" / "ansible-galaxy"
    # --force: the wheel's copy already makes infn.cloud "installed" for ansible-galaxy (it is on
    # sys.path), which would otherwise answer "Nothing to do" (docs/packaging.md).
    galaxy_env = {**env.env, "ANSIBLE_COLLECTIONS_PATH": str(env.collections)}
    _run(
        [galaxy, "collection", "install", "--force", "-p", env.collections, tarball],
        cwd=env.work,
        env=galaxy_env,
    )
    print(f"build and install: {time.monotonic() - started:.0f} s")
    yield env
    for dep in env.created:  # a test that failed half-way: remove what it made
        if _leftovers(dep):
            env.run("infn-cloud", "delete", dep, "--force", "--quiet", timeout=600)
            env.run(
                "ansible-playbook",
                "infn.cloud.deprovision",
                "-e",
                f"infn_cloud_deployment_id={dep}",
                "-e",
                "infn_cloud_site=LOCAL-BACKBONE",
                env={"ANSIBLE_COLLECTIONS_PATH": str(env.collections)},
                timeout=600,
            )


def test_the_package_finds_the_collection_the_wheel_installed(installed):
    code = "from infn_cloud.paths import collection_root; print(collection_root())"
    proc = installed.run("python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    root = Path(proc.stdout.strip())
    assert root.parts[-3:] == ("ansible_collections", "infn", "cloud")
    assert root.is_relative_to(installed.venv.resolve()), root
    assert not root.is_relative_to(ROOT)
    # the wheel's copy of the collection and the Galaxy tarball hold the same files
    tarball_files = {
        p.relative_to(installed.collections / "ansible_collections" / "infn" / "cloud").as_posix()
        for p in (installed.collections / "ansible_collections" / "infn" / "cloud").rglob("*")
        if p.is_file()
    }
    wheel_files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert tarball_files, "ansible-galaxy installed nothing"
    assert wheel_files - {"galaxy.yml"} == tarball_files - {"MANIFEST.json", "FILES.json"}
    assert not any(f.startswith(("tests/", "infn_cloud/", "scripts/")) for f in tarball_files)
    assert "inventories/local/federation.yml" in tarball_files
    assert "tosca_templates/types/infn_cloud_types.yaml" in tarball_files


def test_templates_lists_the_catalogue(installed):
    rc, data, err = installed.cli_json("templates")
    assert rc == 0, err
    names = sorted(t["name"] for t in data)
    assert names == CATALOGUE


def test_sites_reads_the_collections_local_registry(installed):
    rc, data, err = installed.cli_json("sites")
    assert rc == 0, err
    names = {s["name"] for s in (data["sites"] if isinstance(data, dict) else data)}
    assert {"LOCAL-BACKBONE", "LOCAL-FEDERATED"} <= names


def test_plan_chooses_a_local_site(installed):
    rc, data, err = installed.cli_json("plan", "single_vm")
    assert rc == 0, err
    assert data["selection"]["chosen"]["site"].startswith("LOCAL-"), data["selection"]


def test_cli_deploys_and_deletes_single_vm(installed):
    started = time.monotonic()
    rc, data, err = installed.cli_json("deploy", "single_vm", timeout=DEPLOY_TIMEOUT)
    if isinstance(data, dict) and data.get("id"):
        installed.created.append(data["id"])
    assert rc == 0, f"{data}\n{err[-3000:]}"
    dep = data["id"]
    assert data["outputs"]["node_ip"]
    assert _leftovers(dep), "the deployment's container is not on the local site"
    # recorded in the default state directory of this (fresh) user
    assert (installed.home / ".local" / "state" / "infn-cloud" / "state.db").is_file()
    rc, deleted, err = installed.cli_json("delete", dep, timeout=900)
    assert rc == 0, f"{deleted}\n{err[-3000:]}"
    assert _leftovers(dep) == []
    print(f"CLI deploy + delete: {time.monotonic() - started:.0f} s")


def test_playbooks_of_the_galaxy_collection_provision_and_deprovision(installed):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed.collections)}
    proc = installed.run("ansible-galaxy", "collection", "list", "infn.cloud", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    first = next(iter(json.loads(proc.stdout)))  # the first path is the one ansible loads from
    assert Path(first) == installed.collections / "ansible_collections", proc.stdout
    dep = f"pkg-{uuid.uuid4().hex[:8]}"
    installed.created.append(dep)
    document = installed.work / "deployment.json"
    started = time.monotonic()
    proc = installed.run(
        "ansible-playbook",
        "infn.cloud.provision",
        "-e",
        "infn_cloud_template=single_vm",
        "-e",
        f"infn_cloud_deployment_id={dep}",
        "-e",
        f"infn_cloud_deployment_file={document}",
        env=env,
        timeout=DEPLOY_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    doc = json.loads(document.read_text())
    site = doc["site"]["name"] if isinstance(doc.get("site"), dict) else doc["site"]
    assert site.startswith("LOCAL-")
    assert _leftovers(dep)
    proc = installed.run(
        "ansible-playbook",
        "infn.cloud.deprovision",
        "-e",
        f"infn_cloud_deployment_id={dep}",
        "-e",
        f"infn_cloud_site={site}",
        "-e",
        f"infn_cloud_deployment_file={document}",
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert _leftovers(dep) == []
    assert not document.exists()
    print(f"ansible-playbook provision + deprovision: {time.monotonic() - started:.0f} s")


def test_one_job_playbooks_of_the_galaxy_collection_deploy_and_delete(installed):
    """infn.cloud.deploy (plan, site, provision, configure, outputs, record), then infn.cloud.delete."""
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed.collections)}
    dep = f"pkgjob-{uuid.uuid4().hex[:8]}"
    installed.created.append(dep)
    records = installed.base / "records"
    started = time.monotonic()
    proc = installed.run(
        "ansible-playbook",
        "infn.cloud.deploy",
        "-e",
        "infn_cloud_template=single_vm",
        "-e",
        f"infn_cloud_deployment_id={dep}",
        "-e",
        f"infn_cloud_state_dir={records}",
        env=env,
        timeout=DEPLOY_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # the new host was configured in the same run (its own play recap line, nothing failed)
    recap = [line for line in proc.stdout.splitlines() if line.startswith(f"{dep}-vm-server-0 ")]
    assert recap and "failed=0" in recap[0] and "unreachable=0" in recap[0], proc.stdout[-3000:]
    assert (records / f"{dep}.json").is_file()
    assert _leftovers(dep)
    proc = installed.run(
        "ansible-playbook",
        "infn.cloud.delete",
        "-e",
        f"infn_cloud_deployment_id={dep}",
        "-e",
        f"infn_cloud_state_dir={records}",
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert _leftovers(dep) == []
    assert not (records / f"{dep}.json").exists()
    print(f"ansible-playbook deploy + delete (one job each): {time.monotonic() - started:.0f} s")
