"""A test OpenID Connect provider (npm oidc-provider) on a local site's podman network.

It runs roles/jupyterhub/molecule/default/files/oidc-provider.mjs, the stand-in for INDIGO IAM
the role's molecule scenario uses (users with a password form and a `groups` claim, one
confidential client), in a container of its own on the site network, so that the hub node
and this machine reach it at the same address (the issuer URL must be the same for both).

The container image (Debian's nodejs + oidc-provider from npm, on localhost/debian:trixie) is
built once and reused: localhost/infn-cloud-test-oidc:<version>-<script hash>. Only the Debian archive and
npm are contacted, and only while building it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path

from infn_cloud.federation import load_registry
from infn_cloud.federation.drivers.local import LABEL_SITE, LocalDriver

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_JS = ROOT / "roles" / "jupyterhub" / "molecule" / "default" / "files" / "oidc-provider.mjs"
OIDC_PROVIDER_VERSION = "9.13.3"  # the molecule scenario's version
# Tagged with the provider script's hash too: a changed script gets a new image, never a stale one.
IMAGE = (
    f"localhost/infn-cloud-test-oidc:{OIDC_PROVIDER_VERSION}-"
    f"{hashlib.sha256(PROVIDER_JS.read_bytes()).hexdigest()[:12]}"
)
BASE_IMAGE = "localhost/debian:trixie"
PORT = 3000


def _podman(*args: str, timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False, **kw
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} failed: {proc.stderr.strip()[-800:]}")
    return proc


def ensure_image() -> str:
    """Build the provider image once (about 2 minutes); later runs reuse it."""
    if _podman("image", "exists", IMAGE, check=False).returncode == 0:
        return IMAGE
    builder = f"infn-cloud-test-oidc-build-{uuid.uuid4().hex[:8]}"
    _podman("run", "-d", "--name", builder, BASE_IMAGE, "sleep", "infinity")
    try:
        script = (
            "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
            "apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates >/dev/null; "
            "mkdir -p /opt/oidc-provider; cd /opt/oidc-provider; "
            f"npm install --no-audit --no-fund --loglevel=error oidc-provider@{OIDC_PROVIDER_VERSION}; "
            "apt-get clean"
        )
        _podman("exec", builder, "bash", "-c", script, timeout=1200)
        _podman("cp", str(PROVIDER_JS), f"{builder}:/opt/oidc-provider/oidc-provider.mjs")
        _podman("commit", "--quiet", builder, IMAGE, timeout=600)
    finally:
        _podman("rm", "--force", "--time", "0", builder, check=False)
    return IMAGE


class OidcProvider:
    """The provider container: start() it on a site network, configure() it with the hub's
    redirect URI once that is known (the hub's address comes from provisioning), stop()."""

    def __init__(self, site: str, registry: Path = ROOT / "inventories" / "local"):
        self.site = load_registry(registry).site(site)
        self.driver = LocalDriver(self.site)
        self.network = self.driver.network
        self.name = f"infn-cloud-test-oidc-{uuid.uuid4().hex[:8]}"
        self.ip: str | None = None

    @property
    def issuer(self) -> str:
        return f"http://{self.ip}:{PORT}"

    def start(self) -> str:
        """Run the (idle) container on the site network; returns the issuer URL."""
        image = ensure_image()
        # Same network the local driver creates (and removes when no container uses it).
        with self.driver._network_lock():
            if _podman("network", "exists", self.network, check=False).returncode != 0:
                _podman("network", "create", "--label", f"{LABEL_SITE}={self.site.name}", self.network)
            _podman("run", "-d", "--name", self.name, "--network", self.network, image, "sleep", "infinity")
        info = json.loads(_podman("inspect", self.name).stdout)[0]
        self.ip = info["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        return self.issuer

    def configure(self, clients: list[dict], users: dict[str, dict]) -> None:
        """Write the accounts and clients and start the provider; wait for its discovery document."""
        config = {
            "issuer": self.issuer,
            "port": PORT,
            "cookie_keys": [uuid.uuid4().hex],
            "clients": clients,
            "users": users,
        }
        _podman(
            "exec", "-i", self.name, "sh", "-c", "umask 077; cat > /etc/oidc-provider.json",
            input=json.dumps(config),
        )  # fmt: skip
        _podman(
            "exec", "-d", "-w", "/opt/oidc-provider", self.name,
            "sh", "-c", "exec node oidc-provider.mjs /etc/oidc-provider.json >/var/log/oidc.log 2>&1",
        )  # fmt: skip
        import requests

        session = requests.Session()
        session.trust_env = False  # a test host on the site network: never through a proxy
        deadline = time.monotonic() + 60
        while True:
            try:
                doc = session.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5).json()
                if doc.get("issuer") == self.issuer:
                    return
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                log = _podman("exec", self.name, "cat", "/var/log/oidc.log", check=False).stdout
                raise RuntimeError(f"the test OIDC provider did not start: {log[-1000:]}")
            time.sleep(1)

    def stop(self) -> None:
        """Remove the container (before the deployment's delete, so the driver can remove an
        unused site network)."""
        _podman("rm", "--force", "--time", "0", self.name, check=False)
