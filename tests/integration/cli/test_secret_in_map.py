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

import json
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import busybox_image_archive, delete_and_assert_clean, read_secrets, served_directory

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


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("served")
    image = f"localhost/infn-secret-busybox:{uuid.uuid4().hex[:8]}"
    busybox_image_archive(tmp_path_factory.mktemp("image"), image, files={}, changes=[]).rename(
        directory / "image.tar"
    )
    (directory / "compose.yaml").write_text(COMPOSE.format(image=image))
    with served_directory(directory) as (base, _requests):
        yield {"archive": f"{base}/image.tar", "compose": f"{base}/compose.yaml"}


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
