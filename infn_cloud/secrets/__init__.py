"""Secrets of deployments: the Python API the CLI uses (docs/secrets.md has the full story).

- ``store = open_store()``: VaultStore if INFN_CLOUD_VAULT_ADDR is set, else LocalVaultStore;
- ``store.ensure_ssh_keypair(deployment_id)`` -> public key, created on first use;
- ``store.ensure_secret(deployment_id, "htcondor_cluster_secret")`` -> stored or new secret;
- ``store.get_all(deployment_id)`` for ``outputs --show-secrets``;
- ``store.delete_deployment(deployment_id)`` when the deployment is deleted;
- ``with VaultPasswordChannel(load_vault_password()) as channel:`` then
  ``ansible_runner.run(..., cmdline=channel.cmdline, suppress_env_files=True)`` for
  Ansible Vault encrypted site credential files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from infn_cloud.secrets.base import SecretStore, generate_secret, generate_ssh_keypair
from infn_cloud.secrets.local_store import PASSWORD_FILE_ENV, LocalVaultStore, load_vault_password
from infn_cloud.secrets.vault_password import VaultPasswordChannel
from infn_cloud.secrets.vault_store import VaultStore

__all__ = [
    "PASSWORD_FILE_ENV",
    "LocalVaultStore",
    "SecretStore",
    "VaultPasswordChannel",
    "VaultStore",
    "generate_secret",
    "generate_ssh_keypair",
    "load_vault_password",
    "open_store",
]


def open_store(environ: Mapping[str, str] | None = None) -> SecretStore:
    """The configured backend: Vault when INFN_CLOUD_VAULT_ADDR is set, the local store otherwise."""
    env = os.environ if environ is None else environ
    if env.get("INFN_CLOUD_VAULT_ADDR"):
        return VaultStore.from_env(env)
    return LocalVaultStore()
