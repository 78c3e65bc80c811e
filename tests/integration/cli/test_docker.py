"""End to end: run_docker and docker_compose (with its defaults) on the local site, used over HTTP.

No registry is reachable here, so the test makes tiny images itself (Debian's static busybox
with its httpd, `podman import` + `podman save` as a docker archive) and serves the archives
over HTTP from the test host. The templates get an archive's URL through their
`image_archive_urls` input: the node downloads and `docker load`s it, as a site without
registry access would. docker_compose is deployed with its defaults (its inline project: one
docker.io/library/nginx:stable service on port 80); its only input is the archive of a stand-in
image under that name (busybox httpd on port 80, not nginx: the local site cannot pull the real
one), so the default project starts with the loaded image and nothing is pulled. Both templates
are deployed at the same time (one deployment each, shared by the tests of this module); the
tests then ask the published ports from the test host, restart a node, and delete both,
checking nothing is left. docker_compose_file_url is deployed by test_secret_in_map.py.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid

import pytest
from conftest import busybox_image_archive, delete_and_assert_clean, served_directory

pytestmark = pytest.mark.integration

PAGE = f"served by the e2e image {uuid.uuid4().hex[:8]}"
DEFAULT_PAGE = f"the default compose project's stand-in nginx {uuid.uuid4().hex[:8]}"
DEFAULT_IMAGE = "docker.io/library/nginx:stable"  # docker_compose's default project


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The image archives (run_docker's, the default compose project's) on an HTTP server the nodes reach."""
    directory = tmp_path_factory.mktemp("served")
    image = f"localhost/infn-e2e-busybox:{uuid.uuid4().hex[:8]}"
    start = 'echo "$GREETING" > /www/greeting.txt && exec httpd -f -p 8080 -h /www'
    archive = busybox_image_archive(
        tmp_path_factory.mktemp("image"),
        image,
        files={"www/index.html": PAGE + "\n"},
        changes=[f"CMD {json.dumps(['sh', '-c', start])}"],
    )
    archive.rename(directory / "image.tar")
    start = "exec httpd -f -p 80 -h /www"
    stand_in = busybox_image_archive(
        tmp_path_factory.mktemp("nginx"),
        DEFAULT_IMAGE,
        files={"www/index.html": DEFAULT_PAGE + "\n"},
        changes=[f"CMD {json.dumps(['sh', '-c', start])}"],
    )
    stand_in.rename(directory / "nginx.tar")
    with served_directory(directory) as (base, requests):
        yield {
            "image": image,
            "archive": f"{base}/image.tar",
            "default_archive": f"{base}/nginx.tar",
            "requests": requests,
        }


@pytest.fixture(scope="module")
def deployed(module_cli, served, tmp_path_factory):
    """run_docker and docker_compose, deployed at the same time."""
    inputs = tmp_path_factory.mktemp("inputs")
    (inputs / "run_docker.yml").write_text(
        json.dumps(
            {
                "docker_image": served["image"],
                "container_name": "web",
                "published_ports": ["8080:8080"],
                "environment_variables": {"GREETING": "hello from run_docker"},
                "image_archive_urls": [served["archive"]],
            }
        )
    )
    # The defaults, plus the one input a site without registry access needs.
    (inputs / "docker_compose.yml").write_text(
        json.dumps({"image_archive_urls": [served["default_archive"]]})
    )
    started = time.monotonic()
    procs = {
        t: module_cli.popen("deploy", t, "-i", str(inputs / f"{t}.yml"), "--json", "--quiet")
        for t in ("run_docker", "docker_compose")
    }
    results = {}
    for template, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        try:
            data = json.loads(out)
        except ValueError:
            raise AssertionError(f"{template}: not JSON (rc {proc.returncode}): {out}\n{err}") from None
        if data.get("id"):
            module_cli.created.append(data["id"])
        assert proc.returncode == 0, f"{template}: {json.dumps(data, indent=1)}\n{err}"
        results[template] = data
    timings = {t: (d.get("attempts") or [{}])[-1].get("timings") for t, d in results.items()}
    print(f"run_docker + docker_compose deployed together: {time.monotonic() - started:.0f} s {timings}")
    return module_cli, results


def _get(address: str, port: int, path: str = "", timeout: float = 5) -> str:
    with urllib.request.urlopen(f"http://{address}:{port}/{path}", timeout=timeout) as response:
        return response.read().decode().strip()


def _wait_get(address: str, port: int, deadline_s: float = 120) -> str:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return _get(address, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _exec(name: str, command: str) -> str:
    return subprocess.run(
        ["podman", "exec", name, "sh", "-c", command], capture_output=True, text=True, timeout=60
    ).stdout.strip()


def test_archive_urls_are_checked_before_anything_is_created(cli, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text('image_archive_urls: ["file:///etc/shadow"]\n')
    result = cli.run("plan", "run_docker", "-i", str(bad))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad}:1: input 'image_archive_urls'[0]" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_docker_container_answers_on_published_port(deployed, served):
    _, results = deployed
    data = results["run_docker"]
    address = data["outputs"]["node_ip"]
    assert address == data["nodes"]["vm_server"][0]["private_ip"]  # local site: public = private
    assert _get(address, 8080) == PAGE
    assert _get(address, 8080, "greeting.txt") == "hello from run_docker"
    # Each node fetched its archive once instead of pulling from a registry.
    assert served["requests"].count("/image.tar") == 1
    assert served["requests"].count("/nginx.tar") == 1


def test_docker_compose_default_project_answers_on_port_80(deployed):
    _, results = deployed
    data = results["docker_compose"]
    address = data["outputs"]["node_ip"]
    assert _get(address, 80) == DEFAULT_PAGE
    node = data["nodes"]["vm_server"][0]["name"]
    assert _exec(node, "systemctl is-enabled infn-compose-myapp") == "enabled"
    assert _exec(node, "stat -c %a /opt/myapp/.env") == "600"
    # The default project ran from the loaded archive: the node has exactly that image.
    running = _exec(node, "docker compose -p myapp ps --format '{{.Service}} {{.Image}}'")
    assert running == f"web {DEFAULT_IMAGE}"
    assert (
        _exec(node, "docker image inspect -f '{{.Config.Cmd}}' nginx:stable")
        == "[sh -c exec httpd -f -p 80 -h /www]"
    )


def test_docker_runs_as_on_a_vm(deployed):
    """overlay2 on the node's engine volume, not the vfs fallback of a nested overlay root."""
    _, results = deployed
    node = results["run_docker"]["nodes"]["vm_server"][0]["name"]
    assert _exec(node, "docker info --format '{{.Driver}}'") == "overlay2"
    assert _exec(node, "findmnt -n -o TARGET /var/lib/docker") == "/var/lib/docker"


def test_container_comes_back_after_node_restart(deployed):
    _, results = deployed
    node = results["run_docker"]["nodes"]["vm_server"][0]
    subprocess.run(["podman", "restart", "--time", "5", node["name"]], check=True, capture_output=True)
    address_format = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    address = subprocess.run(
        ["podman", "inspect", "--format", address_format, node["name"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert _wait_get(address, 8080) == PAGE


def test_delete_leaves_nothing(deployed):
    cli, results = deployed
    for data in results.values():
        delete_and_assert_clean(cli, data["id"])
