"""End to end: a secret inside a map input (docker_compose's environment_variables) leaks nowhere.

The catalogue's docker_compose template is deployed on the local site with an environment map
holding a password (its key names a secret; the input itself is an ordinary map). While the
deploy runs, the test scans again and again the state database, the deployment document, the
log, ansible-runner's artifacts as they are written, ansible-runner's private run directories
and every process's command line for the value; then once more after the deploy. The service
itself must get the real value (it serves it back over HTTP: a marker there would mean the role
got the redacted document instead of the encrypted extra vars). No registry is reachable: the
test builds a busybox image, and the node downloads the archive and the compose file from an
HTTP server of the test (the template's image_archive_urls and docker_compose_file_url).
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import delete_and_assert_clean, read_secrets
from prereq import missing

from infn_cloud.secrets.leakscan import format_findings, scan

pytestmark = pytest.mark.integration

SECRET = f"Db-Pw'\"-{uuid.uuid4().hex[:16]}"
COMPOSE = """\
services:
  web:
    image: {image}
    command:
      - sh
      - -c
      - mkdir -p /srv && echo "$$APP_DB_PASSWORD" > /srv/index.html && exec httpd -f -p 80 -h /srv
    environment:
      APP_DB_PASSWORD: ${{APP_DB_PASSWORD}}
    ports: ["80:80"]
"""


def _image_archive(directory: Path, image: str) -> Path:
    """A docker archive of a scratch image holding a static busybox (sh, httpd, mkdir, echo)."""
    busybox = shutil.which("busybox")
    if not busybox or subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        missing("a static busybox for the test image (apt-get install busybox-static)")
    root = directory / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "httpd", "mkdir", "echo"):
        (root / "bin" / applet).symlink_to("busybox")
    rootfs = directory / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add(root, arcname=".")
    subprocess.run(
        ["podman", "import", "--change", "ENV PATH=/bin", str(rootfs), image], check=True, capture_output=True
    )
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


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("served")
    image = f"localhost/infn-secret-busybox:{uuid.uuid4().hex[:8]}"
    _image_archive(tmp_path_factory.mktemp("image"), image).rename(directory / "image.tar")
    (directory / "compose.yaml").write_text(COMPOSE.format(image=image))
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda self, *a: None})
    server = http.server.ThreadingHTTPServer(
        ("0.0.0.0", 0),  # noqa: S104 - the nodes are on a podman network, not on loopback
        lambda *a: handler(*a, directory=str(directory)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://host.containers.internal:{server.server_address[1]}"  # the host, from a node
    yield {"archive": f"{base}/image.tar", "compose": f"{base}/compose.yaml"}
    server.shutdown()


def _scan_everything(cli) -> list:
    """The state dir (database, documents, logs, artifacts, the encrypted local secret store),
    ansible-runner's private run directories and the process list."""
    runs = list(Path(tempfile.gettempdir()).glob("infn-cloud-*"))
    paths = [cli.state, *runs] if cli.state.exists() else runs
    dbs = [cli.state / "state.db"] if (cli.state / "state.db").exists() else []
    try:
        return scan({"db_password": SECRET}, paths=paths, sqlite_dbs=dbs, processes=True)
    except FileNotFoundError:  # a run directory vanished between listing and reading it
        return []


@pytest.fixture(scope="module")
def deployed(module_cli, served, tmp_path_factory):
    inputs = tmp_path_factory.mktemp("inputs") / "inputs.yml"
    inputs.write_text(
        json.dumps(
            {
                "project_name": "keeper",
                "docker_compose_file_url": served["compose"],
                "image_archive_urls": [served["archive"]],
                "environment_variables": {"APP_DB_PASSWORD": SECRET, "GREETING": "hello"},
            }
        )
    )
    started = time.monotonic()
    proc = module_cli.popen("deploy", "docker_compose", "-i", str(inputs), "--json")
    findings, scans, scans_with_events = [], 0, 0
    while proc.poll() is None:
        findings += _scan_everything(module_cli)
        scans += 1
        if list(module_cli.state.glob("deployments/*/artifacts/*/job_events/*.json")):
            scans_with_events += 1
        time.sleep(2)  # a scan reads every artifact: leave the (shared) CPU to the deploy
    out, err = proc.communicate()
    try:
        data = json.loads(out)
    except ValueError:
        raise AssertionError(f"not JSON (rc {proc.returncode}): {out}\n{err}") from None
    if data.get("id"):
        module_cli.created.append(data["id"])
    assert proc.returncode == 0, f"{json.dumps(data, indent=1)}\n{err}"
    print(
        f"docker_compose with a secret in a map: deployed in {time.monotonic() - started:.0f} s, "
        f"{scans} leak scans while it ran"
    )
    return (
        module_cli,
        data,
        {"findings": findings, "scans": scans, "with_events": scans_with_events, "err": err},
    )


def test_nothing_leaked_while_the_deploy_ran(deployed):
    _, _, during = deployed
    assert during["findings"] == [], format_findings(during["findings"])
    # The scans covered the configure phase (runner artifacts being written), not just its end.
    assert during["with_events"] >= 3, during
    assert SECRET not in during["err"]


def test_nothing_leaked_after_it(deployed):
    cli, data, _ = deployed
    findings = _scan_everything(cli)
    assert findings == [], format_findings(findings)
    directory = cli.state / "deployments" / data["id"]
    assert list((directory / "artifacts").glob("*/job_events/*.json"))
    assert (directory / "deploy.log").stat().st_size > 0


def test_the_value_is_in_the_secret_store_and_records_hold_its_marker(deployed):
    cli, data, _ = deployed
    name = "environment_variables.APP_DB_PASSWORD"
    assert read_secrets(cli, data["id"])[name] == SECRET
    marker = f"<secret:{name}>"
    assert data["inputs"]["environment_variables"] == {"APP_DB_PASSWORD": marker, "GREETING": "hello"}
    document = json.loads((cli.state / "deployments" / data["id"] / "deployment.json").read_text())
    assert "docker_compose_env" in document["secret_vars"]
    (entry,) = [s for s in document["plan"]["software"] if s["role"] == "infn.cloud.docker_compose"]
    assert entry["vars"]["docker_compose_env"] == {"APP_DB_PASSWORD": marker, "GREETING": "hello"}


def test_the_service_got_the_real_value(deployed):
    _, data, _ = deployed
    address = data["outputs"]["node_ip"]
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}:80/", timeout=5) as response:
                body = response.read().decode().strip()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    assert body == SECRET  # not "<secret:...>": the role got the value as an encrypted extra var
    node = data["nodes"]["vm_server"][0]["name"]
    mode = subprocess.run(
        ["podman", "exec", node, "stat", "-c", "%a", "/opt/keeper/.env"], capture_output=True, text=True
    ).stdout.strip()
    assert mode == "600"


def test_delete_leaves_nothing(deployed):
    cli, data, _ = deployed
    delete_and_assert_clean(cli, data["id"])
