"""vault_secret, ssh_keypair and the lookup run by ansible-playbook against a real OpenBao."""

from __future__ import annotations

import textwrap

import pytest

from infn_cloud.secrets.leakscan import scan_paths

pytestmark = pytest.mark.integration

SECRET_PLAY = """
- name: Secret
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write
      infn.cloud.vault_secret:
        path: "{{{{ secret_path }}}}"
        data: {{password: "{value}", user: admin}}
    - name: Lookup
      ansible.builtin.set_fact:
        looked_up: "{{{{ lookup('infn.cloud.vault_secret', secret_path, field='password') }}}}"
      no_log: true
    - name: Compare
      ansible.builtin.assert:
        that: looked_up == "{value}"
        quiet: true
"""


def write_play(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def vault_env(bao):
    return {"INFN_CLOUD_VAULT_ADDR": bao.url, "INFN_CLOUD_VAULT_TOKEN": bao.root_token}


def stored(bao, path):
    kv = bao.root().secrets.kv.v2
    try:
        return kv.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)["data"]
    except Exception:
        return None


def test_vault_secret_check_mode_idempotence_diff_and_no_leak(bao, run_playbook, tmp_path, unique):
    path = f"tests/{unique}/svc"
    value = f"pw-{unique}-first"
    play = write_play(tmp_path, "secret.yml", SECRET_PLAY.format(value=value))
    extra = ("-e", f"secret_path={path}")

    rc, tasks, out = run_playbook(play, vault_env(bao), "--check", "--diff", *extra)
    # check mode: predicts a change, writes nothing (the lookup then finds no secret and fails)
    assert tasks["Write"]["changed"] is True
    assert stored(bao, path) is None
    assert tasks["Write"]["diff"]["after"] == {"password": "<hidden, changed>", "user": "<hidden, changed>"}

    rc, tasks, out = run_playbook(play, vault_env(bao), "--diff", *extra)
    assert rc == 0, out
    assert tasks["Write"]["changed"] is True and tasks["Write"]["version"] == 1
    assert stored(bao, path)["data"] == {"password": value, "user": "admin"}

    rc, tasks, out = run_playbook(play, vault_env(bao), "--diff", *extra)
    assert rc == 0, out
    assert tasks["Write"]["changed"] is False and stored(bao, path)["metadata"]["version"] == 1

    rotated = f"pw-{unique}-rotated"
    play2 = write_play(tmp_path, "rotate.yml", SECRET_PLAY.format(value=rotated))
    rc, tasks, out = run_playbook(play2, vault_env(bao), "--diff", *extra)
    assert rc == 0, out
    assert tasks["Write"]["diff"]["after"] == {"password": "<hidden, changed>", "user": "<hidden>"}
    assert stored(bao, path)["data"]["password"] == rotated

    (tmp_path / "out.txt").write_text(out)
    assert scan_paths({"first": value, "rotated": rotated}, [tmp_path / "out.txt"]) == []


def test_vault_secret_read_and_absent(bao, run_playbook, tmp_path, unique):
    path = f"tests/{unique}/gone"
    bao.root().secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"}, mount_point="secret")
    play = write_play(
        tmp_path,
        "absent.yml",
        """
        - name: Absent
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Read
              infn.cloud.vault_secret:
                path: "{{ secret_path }}"
                state: read
              no_log: true
              register: read_result
            - name: Check read
              ansible.builtin.assert:
                that: read_result.data.k == 'v'
            - name: Delete
              infn.cloud.vault_secret:
                path: "{{ secret_path }}"
                state: absent
            - name: Delete again
              infn.cloud.vault_secret:
                path: "{{ secret_path }}"
                state: absent
            - name: Read missing
              infn.cloud.vault_secret:
                path: "{{ secret_path }}"
                state: read
                missing_ok: true
        """,
    )
    rc, tasks, out = run_playbook(play, vault_env(bao), "-e", f"secret_path={path}")
    assert rc == 0, out
    assert tasks["Delete"]["changed"] is True
    assert tasks["Delete again"]["changed"] is False
    assert tasks["Read missing"]["exists"] is False
    assert stored(bao, path) is None


def test_ambient_token_is_refused(bao, run_playbook, tmp_path, unique):
    play = write_play(tmp_path, "ambient.yml", SECRET_PLAY.format(value=f"never-{unique}"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".vault-token").write_text(bao.root_token)
    env = {"INFN_CLOUD_VAULT_ADDR": bao.url, "VAULT_TOKEN": bao.root_token, "HOME": str(tmp_path / "home")}
    rc, tasks, _out = run_playbook(play, env, "-e", f"secret_path=tests/{unique}/x")
    assert rc != 0
    assert "INFN_CLOUD_VAULT_TOKEN" in tasks["Write"]["msg"]
    assert stored(bao, f"tests/{unique}/x") is None


def test_ssh_keypair_check_mode_idempotence_and_rotation(bao, run_playbook, tmp_path, unique):
    play = write_play(
        tmp_path,
        "ssh.yml",
        """
        - name: Keypair
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Keypair
              infn.cloud.ssh_keypair:
                user: "{{ owner }}"
                deployment_id: dep1
                force: "{{ rotate | default(false) | bool }}"
        """,
    )
    user = f"u{unique}"
    path = f"users/{user}/deployments/dep1/ssh"
    args = ("-e", f"owner={user}")

    rc, tasks, out = run_playbook(play, vault_env(bao), "--check", *args)
    assert rc == 0, out
    assert tasks["Keypair"]["changed"] is True and tasks["Keypair"]["public_key"] is None
    assert stored(bao, path) is None

    rc, tasks, out = run_playbook(play, vault_env(bao), *args)
    assert rc == 0, out
    first = tasks["Keypair"]["public_key"]
    assert first.startswith("ssh-ed25519 ") and tasks["Keypair"]["changed"] is True
    private = stored(bao, path)["data"]["private_key"]
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert private not in out

    rc, tasks, out = run_playbook(play, vault_env(bao), "--check", *args)
    assert tasks["Keypair"]["changed"] is False and tasks["Keypair"]["public_key"] == first
    rc, tasks, out = run_playbook(play, vault_env(bao), *args)
    assert tasks["Keypair"]["changed"] is False and tasks["Keypair"]["public_key"] == first

    rc, tasks, out = run_playbook(play, vault_env(bao), *args, "-e", "rotate=true")
    assert rc == 0, out
    assert tasks["Keypair"]["changed"] is True and tasks["Keypair"]["public_key"] != first
    assert stored(bao, path)["data"]["public_key"] == tasks["Keypair"]["public_key"]

    # the CLI's VaultStore reads the key the module wrote
    from infn_cloud.secrets import VaultStore

    assert (
        VaultStore(bao.url, token=bao.root_token, user=user).ensure_ssh_keypair("dep1")
        == (tasks["Keypair"]["public_key"])
    )
