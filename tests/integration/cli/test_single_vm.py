"""End to end: single_vm deployed once on the local site, used over SSH as its users would.

Two accounts come from the `users` input, each with its own SSH key made by the test: one
with passwordless sudo, one without. The tests log in to the output address with those keys
(host key checked against the one the deployment pinned), check sudo as configured, the
time zone input and that password logins are refused, then delete and check nothing is left.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import delete_and_assert_clean

pytestmark = pytest.mark.integration

ADMIN, PLAIN = "alice", "bob"


def _keypair(directory, name: str) -> tuple[str, str]:
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(key)], check=True
    )
    return str(key), (directory / f"{name}.pub").read_text().strip()


@pytest.fixture(scope="module")
def vm(module_cli, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys")
    admin_key, admin_pub = _keypair(keys, ADMIN)
    plain_key, plain_pub = _keypair(keys, PLAIN)
    inputs = keys / "inputs.yml"
    users = [
        {"os_user_name": ADMIN, "os_user_ssh_public_key": admin_pub, "os_user_add_to_sudoers": True},
        {"os_user_name": PLAIN, "os_user_ssh_public_key": plain_pub},
    ]
    inputs.write_text(json.dumps({"timezone": "Europe/Rome", "users": users}))
    started = time.monotonic()
    rc, data = module_cli.deploy("single_vm", "-i", str(inputs))
    print(f"single_vm deploy: {time.monotonic() - started:.0f} s")
    assert rc == 0, data
    address = data["outputs"]["node_ip"]
    # The host key the driver pinned at first boot (kept in the deployment's document).
    document = json.loads((module_cli.state / "deployments" / data["id"] / "deployment.json").read_text())
    host_key = document["resources"]["nodes"]["vm_server"][0]["host_key"]
    known_hosts = keys / "known_hosts"
    known_hosts.write_text(f"{address} {host_key}\n")
    return {
        "cli": module_cli,
        "data": data,
        "address": address,
        "keys": {ADMIN: admin_key, PLAIN: plain_key},
        "known_hosts": str(known_hosts),
    }


def _ssh(vm: dict, user: str, command: str, *options: str, key: str | None = None):
    argv = [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={vm['known_hosts']}",
        "-o", "ConnectTimeout=10",
        "-i", key or vm["keys"][user],
        *options,
        f"{user}@{vm['address']}",
        command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_outputs_name_the_address_to_log_in_to(vm):
    data = vm["data"]
    assert data["status"] == "CREATE_COMPLETE"
    assert vm["address"] == data["nodes"]["vm_server"][0]["private_ip"]  # local site: public = private
    assert data["outputs"]["ssh_command"] == f"ssh <user>@{vm['address']}"


def test_users_log_in_with_their_keys_and_sudo_is_as_configured(vm):
    admin = _ssh(vm, ADMIN, "id -un; sudo -n id -u")
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout.split() == [ADMIN, "0"]

    plain = _ssh(vm, PLAIN, "id -un; sudo -n id -u")
    assert plain.stdout.split() == [PLAIN]
    assert plain.returncode != 0 and "password is required" in plain.stderr, plain.stderr


def test_one_users_key_does_not_open_another_account(vm):
    result = _ssh(vm, PLAIN, "true", key=vm["keys"][ADMIN])
    assert result.returncode == 255 and "Permission denied" in result.stderr, result.stderr


def test_password_logins_are_refused_and_timezone_applied(vm):
    result = _ssh(vm, PLAIN, "true", "-o", "PreferredAuthentications=password,keyboard-interactive")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr, result.stderr
    assert _ssh(vm, ADMIN, "readlink /etc/localtime").stdout.strip().endswith("/Europe/Rome")


def test_delete_leaves_nothing(vm):
    delete_and_assert_clean(vm["cli"], vm["data"]["id"])
