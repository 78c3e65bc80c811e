"""Fixtures for end-to-end CLI tests on the local site (podman containers with systemd)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prereq import missing

ROOT = Path(__file__).resolve().parents[3]
# A deploy takes 1-3 minutes on a quiet machine; a shared machine under heavy load took over 15.
DEPLOY_TIMEOUT = 2400
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

    def deploy(
        self, template: str, *extra: str, env: dict | None = None, timeout: int = DEPLOY_TIMEOUT
    ) -> tuple[int, dict]:
        rc, data = self.json("deploy", template, *extra, env=env, timeout=timeout)
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


def assert_no_secret_in_cli_records(cli: Cli, secrets: dict[str, str]) -> None:
    """None of `secrets` in the state dir (database, documents, logs, artifacts), runner's run dirs or ps."""
    from infn_cloud.secrets.leakscan import format_findings, scan

    findings = scan(
        secrets,
        paths=[cli.state, *Path(tempfile.gettempdir()).glob("infn-cloud-*")],
        sqlite_dbs=[cli.state / "state.db"],
        processes=True,
    )
    assert findings == [], format_findings(findings)


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


# -- what several end-to-end modules use ------------------------------------------------------
def s3_client(endpoint: str, access_key: str, secret_key: str):
    """An S3 client as a user would configure one for Swift: path-style, region us-east-1."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=10),
    )


def busybox_image_archive(directory: Path, image: str, files: dict[str, str], changes: list[str]) -> Path:
    """A docker archive of a scratch image: a static busybox (sh, httpd, mkdir, echo) and `files`.

    No registry is reachable, so end-to-end tests build their image here and the nodes load it
    from an archive (the docker_compose role's image_archives option).
    """
    busybox = shutil.which("busybox")
    if not busybox or subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        missing("a static busybox for the test image (apt-get install busybox-static)")  # ldd: "not dynamic"
    root = directory / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "httpd", "mkdir", "echo"):
        (root / "bin" / applet).symlink_to("busybox")
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    rootfs = directory / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add(root, arcname=".")
    options = [arg for change in ["ENV PATH=/bin", *changes] for arg in ("--change", change)]
    subprocess.run(["podman", "import", *options, str(rootfs), image], check=True, capture_output=True)
    archive = directory / "image.tar"
    try:
        subprocess.run(
            ["podman", "save", "--format", "docker-archive", "-o", str(archive), image],
            check=True,
            capture_output=True,
        )
    finally:
        subprocess.run(["podman", "rmi", "--force", image], check=False, capture_output=True)
    return archive


@contextlib.contextmanager
def served_directory(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `directory` over HTTP to the local-site nodes: (base URL as a node sees it, paths requested)."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("0.0.0.0", 0),  # noqa: S104 - the nodes are on a podman network, not on loopback
        lambda *a: Handler(*a, directory=str(directory)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # podman puts host.containers.internal (the host, seen from its networks) in every node's /etc/hosts
        yield f"http://host.containers.internal:{server.server_address[1]}", requests
    finally:
        server.shutdown()
