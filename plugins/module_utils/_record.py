# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Where a deployment record made by playbooks/deploy.yml lives between jobs.

An AWX job runs in a container that is gone when the job ends; the record of a deployment
(its id, the sites it touched, status, outputs: never a secret) must be found by a later job
(playbooks/delete.yml). Two stores:

- ``vault``: a KV version 2 secret ``<vault_path>/<deployment_id>/record`` on Vault/OpenBao
  (used when a Vault address is configured: the url option or INFN_CLOUD_VAULT_ADDR);
- ``directory``: ``<state_dir>/<deployment_id>.json`` (0600, directory 0700), e.g. a
  persistent volume mounted into the job's container.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.infn.cloud.plugins.module_utils._deployment import deployment_id_problem
from ansible_collections.infn.cloud.plugins.module_utils._vault import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultConnection,
    VaultError,
    VaultOptionError,
    VaultOptions,
)

ENV_ADDR = "INFN_CLOUD_VAULT_ADDR"


class RecordError(Exception):
    """The record cannot be read or written; the message says where and why."""


def check_id(deployment_id):
    """The collection's one deployment id rule (module_utils/_deployment.py), as a RecordError."""
    problem = deployment_id_problem(deployment_id)
    if problem:
        raise RecordError(problem)
    return deployment_id


def record_argument_spec():
    """The options of a record's place (doc fragment infn.cloud.record)."""
    return dict(
        deployment_id=dict(type="str", required=True),
        store=dict(type="str", choices=["auto", "vault", "directory"], default="auto"),
        state_dir=dict(type="path"),
        vault_path=dict(type="str"),
        user=dict(type="str", default="awx"),
    )


def choose_store(params):
    store = params.get("store") or "auto"
    if store == "auto":
        store = "vault" if (params.get("url") or os.environ.get(ENV_ADDR)) else "directory"
    if store == "directory" and not params.get("state_dir"):
        raise RecordError(
            "no place for the deployment record: set state_dir (a directory that outlives the job, "
            "e.g. a persistent volume) or configure Vault (url or %s)" % ENV_ADDR
        )
    return store


class DirectoryStore(object):
    def __init__(self, state_dir):
        self.root = state_dir

    def where(self, deployment_id):
        return os.path.join(self.root, "%s.json" % check_id(deployment_id))

    def read(self, deployment_id):
        path = self.where(deployment_id)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RecordError("record %s cannot be read: %s" % (path, exc)) from None
        if not isinstance(data, dict):
            raise RecordError("record %s: expected a JSON object" % path)
        return data

    def write(self, deployment_id, data):
        path = self.where(deployment_id)
        try:
            if not os.path.isdir(self.root):
                os.makedirs(self.root, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".record-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError as exc:
            raise RecordError("record %s cannot be written: %s" % (path, exc)) from None

    def delete(self, deployment_id):
        path = self.where(deployment_id)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise RecordError("record %s cannot be removed: %s" % (path, exc)) from None
        return True


class VaultStore(object):
    """Records on Vault/OpenBao KV v2, through a logged-in _vault.VaultConnection."""

    def __init__(self, conn, prefix):
        self.conn = conn
        self.prefix = prefix.strip("/")

    def where(self, deployment_id):
        return "%s/%s/record" % (self.prefix, check_id(deployment_id))

    def read(self, deployment_id):
        found = self.conn.kv_read(self.where(deployment_id))
        if not found:
            return None
        text = (found.get("data") or {}).get("record")
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RecordError("%s holds no deployment record" % self.where(deployment_id))
        return data

    def write(self, deployment_id, data):
        self.conn.kv_write(self.where(deployment_id), {"record": json.dumps(data, sort_keys=True)})

    def delete(self, deployment_id):
        if self.conn.kv_read(self.where(deployment_id)) is None:
            return False
        self.conn.kv_delete(self.where(deployment_id))
        return True


def vault_prefix(params):
    return params.get("vault_path") or "users/%s/deployments" % params.get("user")


def run_with_store(module, action):
    """Exit ``module`` with ``action(store, kind)``: the store its options choose, opened here.

    One place for choosing the store, the hvac check, the Vault connection's lifetime and the
    errors a user gets, for the modules that read and write records.
    """
    try:
        check_id(module.params["deployment_id"])
        kind = choose_store(module.params)
        if kind == "directory":
            result = action(DirectoryStore(module.params["state_dir"]), kind)
        else:
            if not HAS_HVAC:
                module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
            with VaultConnection(VaultOptions.from_getter(module.params.get)) as conn:
                result = action(VaultStore(conn, vault_prefix(module.params)), kind)
    except (RecordError, VaultOptionError, VaultError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
