"""The engine answers with the requested daemon options; compose projects run and serve."""

import json

IMAGE = "localhost/busybox:test"
# `podman exec` straight into the test host: faster than testinfra's ansible backend.
testinfra_hosts = ["podman://dockercompose-trixie"]


def _curl(host, port, path=""):
    """Body of a page served on the test host (the ansible backend strips the final newline)."""
    return host.run(f"curl -fsS --max-time 5 http://127.0.0.1:{port}/{path}")


def test_engine_runs_with_requested_daemon_options(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled
    # (no Go template braces: testinfra's ansible backend would template them)
    info = json.loads(host.check_output("docker info --format json"))
    assert info["Driver"] == "vfs"
    assert info["LoggingDriver"] == "json-file"
    assert "https://mirror.example.org/" in info["RegistryConfig"]["Mirrors"]
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-opts"] == {"max-size": "5m", "max-file": "2"}
    assert host.run("dockerd --validate --config-file /etc/docker/daemon.json").rc == 0


def test_default_bridge_has_requested_mtu_and_address(host):
    bridge = json.loads(host.check_output("docker network inspect bridge"))[0]
    assert bridge["Options"]["com.docker.network.driver.mtu"] == "1450"
    assert bridge["IPAM"]["Config"][0]["Subnet"] == "172.31.0.0/24"


def test_compose_plugin_available(host):
    assert host.run("docker compose version").rc == 0


def test_docker_run_of_local_image(host):
    out = host.check_output(f"docker run --rm {IMAGE} echo hello-from-busybox")
    assert out == "hello-from-busybox"


def test_env_file_is_private_and_quoted(host):
    env = host.file("/opt/web/.env")
    assert env.mode == 0o600
    assert env.user == "root"
    assert "HOST_PUBLIC_IP='192.0.2.10'" in env.content_string
    # compose reads every value back exactly, quote and dollar included
    # block style: no braces for testinfra's ansible backend to mistake for a template
    probe = "\n".join(
        [
            "services:",
            "  probe:",
            f"    image: {IMAGE}",
            "    environment:",
            "      T: ${API_TOKEN}",
            "      G: ${GREETING}",
        ]
    )
    rendered = host.check_output(
        f"docker compose --project-directory /opt/web -f - config --format json <<'EOF'\n{probe}\nEOF"
    )
    environment = json.loads(rendered)["services"]["probe"]["environment"]
    assert environment["G"] == "hello from .env"
    assert environment["T"] == "s3cr3t'$$value"  # config output escapes $ as $$


def test_compose_files_valid(host):
    for project in ("web", "fromurl", "hello", "archived"):
        result = host.run(f"cd /opt/{project} && docker compose config --quiet")
        assert result.rc == 0, result.stderr


def test_inline_project_serves_files_and_env(host):
    assert host.service("infn-compose-web").is_enabled
    assert host.service("infn-compose-web").is_running
    assert _curl(host, 18080).stdout.strip() == "<h1>infn.cloud web</h1>"
    assert _curl(host, 18080, "greeting.txt").stdout.strip() == "hello from .env"


def test_project_from_url_runs_with_host_ip(host):
    assert host.file("/opt/fromurl/compose.yaml").exists
    assert _curl(host, 18081).stdout.strip() == "fromurl 192.0.2.20"
    # The inline content given with the URL (a template's default project) was not used.
    assert "ignored" not in host.file("/opt/fromurl/compose.yaml").content_string


def test_run_docker_single_container(host):
    assert _curl(host, 18082).stdout.strip() == "run docker ok"
    inspect = json.loads(host.check_output("docker inspect hello"))[0]
    assert "MODE=single" in inspect["Config"]["Env"]
    assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_image_from_archive_url_loaded_and_running(host):
    """docker_compose_image_archives: the archive was downloaded and loaded, the project serves."""
    assert _curl(host, 18083).stdout.strip() == "from archive"
    assert host.run("docker image inspect localhost/busybox:archived").rc == 0
    cached = host.run("ls /opt/archived/.images").stdout.split()
    assert len(cached) == 1 and cached[0].endswith(".tar")
    assert host.file("/opt/archived/.images").mode == 0o700


def test_invalid_project_never_got_a_compose_file(host):
    assert not host.file("/opt/broken/compose.yaml").exists


def test_projects_come_back_after_engine_restart(host, wait):
    host.check_output("systemctl restart docker")
    wait(lambda: _curl(host, 18080).rc == 0, timeout=60, what="web project after docker restart")
    wait(lambda: _curl(host, 18082).rc == 0, timeout=60, what="run-docker project after docker restart")
