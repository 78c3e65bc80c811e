"""Fixtures for end-to-end CLI tests on the local site (podman containers with systemd)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prereq import missing

ROOT = Path(__file__).resolve().parents[3]
LABEL = "org.infn.cloud.deployment"


def _podman_ready() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup.sh installs it)"
    if subprocess.run(["podman", "image", "exists", "localhost/debian:trixie"], check=False).returncode:
        return "the image localhost/debian:trixie is missing (scripts/test-hosts.sh builds it)"
    return None


@pytest.fixture(scope="session", autouse=True)
def _needs_podman():
    """Every CLI end-to-end test needs podman and the test image: skipped without, failed under CI=true."""
    reason = _podman_ready()
    if reason:
        missing(reason)


class Cli:
    """Runs the real `infn-cloud` (python -m infn_cloud) with an isolated state and config dir."""

    def __init__(self, base: Path):
        self.state = base / "state"
        self.env = dict(os.environ)
        self.env.update(
            INFN_CLOUD_STATE_DIR=str(self.state),
            XDG_CONFIG_HOME=str(base / "config"),
            INFN_CLOUD_REGISTRY=str(ROOT / "inventories" / "local"),
        )
        self.env.pop("INFN_CLOUD_VAULT_ADDR", None)
        self.env.pop("INFN_CLOUD_FAIL_SITES", None)
        self.created: list[str] = []
        self.started: list[subprocess.Popen] = []

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infn_cloud", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(proc)
        return proc

    def run(self, *args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        proc = self.popen(*args, env=env)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def json(self, *args: str, **kw) -> tuple[int, dict | list]:
        result = self.run(*args, "--json", **kw)
        try:
            return result.returncode, json.loads(result.stdout)
        except ValueError:
            raise AssertionError(
                f"not JSON (rc {result.returncode}): {result.stdout}\n{result.stderr}"
            ) from None

    def deploy(self, template: str, *extra: str, env: dict | None = None) -> tuple[int, dict]:
        rc, data = self.json("deploy", template, *extra, env=env)
        if isinstance(data, dict) and data.get("id"):
            self.created.append(data["id"])
        return rc, data

    def ids(self) -> list[str]:
        _, rows = self.json("list", "--all")
        return [r["id"] for r in rows]

    def cleanup(self) -> None:
        """Whatever a test left behind (it failed half-way): delete by label, never leave containers."""
        for proc in self.started:  # a deploy still running would create after the delete
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
        for dep in set(self.created) | set(self.ids() if self.state.exists() else []):
            self.run("delete", dep, "--force", "--quiet", timeout=300)


def leftovers(deployment_id: str) -> dict[str, list[str]]:
    """Containers and volumes podman still has for a deployment."""

    def names(*cmd):
        out = subprocess.run(["podman", *cmd], capture_output=True, text=True, check=True).stdout
        return [line for line in out.split() if line]

    return {
        "containers": names(
            "ps", "-a", "--filter", f"label={LABEL}={deployment_id}", "--format", "{{.Names}}"
        ),
        "volumes": names(
            "volume", "ls", "--filter", f"label={LABEL}={deployment_id}", "--format", "{{.Name}}"
        ),
    }


def local_networks_without_containers() -> list[str]:
    """Site networks of the local driver that no container uses any more (should not exist)."""
    out = subprocess.run(
        ["podman", "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True, check=True
    ).stdout.split()
    stale = []
    for net in out:
        if not net.startswith("infn-cloud-local-"):
            continue
        users = subprocess.run(
            ["podman", "ps", "-a", "--filter", f"network={net}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not users:
            stale.append(net)
    return stale


def read_secrets(cli: Cli, deployment_id: str) -> dict[str, str]:
    """The deployment's secret values (8+ characters), read from the store as the CLI's user can."""
    code = (
        "import json,sys; from infn_cloud.secrets import open_store; s=open_store(); d=sys.argv[1]; "
        "v=dict(s.get_all(d)); k=s.ssh_private_key(d) if v else None; "
        "v.update({'ssh_private_key': k} if k else {}); print(json.dumps(v))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, deployment_id], env=cli.env, capture_output=True, text=True, check=True
    ).stdout
    return {k: v for k, v in json.loads(out).items() if isinstance(v, str) and len(v) >= 8}


def delete_and_assert_clean(cli: Cli, deployment_id: str) -> None:
    """`infn-cloud delete` succeeds and leaves nothing: containers, volumes, networks, secrets, record."""
    rc, deleted = cli.json("delete", deployment_id, timeout=600)
    assert rc == 0 and deleted["status"] == "DELETE_COMPLETE", deleted
    assert leftovers(deployment_id) == {"containers": [], "volumes": []}
    assert local_networks_without_containers() == []
    assert read_secrets(cli, deployment_id) == {}
    assert deployment_id not in [row["id"] for row in cli.json("list")[1]]


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path)
    yield c
    c.cleanup()


@pytest.fixture(scope="module")
def module_cli(tmp_path_factory):
    """One state dir for a module whose tests share a deployment (deploying is the slow part)."""
    c = Cli(tmp_path_factory.mktemp("cli"))
    yield c
    c.cleanup()
