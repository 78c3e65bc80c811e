#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_secret
short_description: Read, write or delete a secret in a Vault/OpenBao KV version 2 engine
version_added: 0.1.0
author: infn.cloud developers (@infn-cloud)
description:
  - Writes a secret only when its data differ from the stored version (read before write),
    so repeated runs report no change and do not create new versions.
  - Deletes a secret with all its versions and metadata.
  - Reads a secret. Set C(no_log=true) on a task that reads, since the result holds the values.
extends_documentation_fragment:
  - infn.cloud.vault
  - infn.cloud.vault.attributes
attributes:
  diff_mode:
    description: Shows which keys are added, changed or removed; values are never shown.
    support: full
options:
  path:
    description:
      - Path of the secret inside the KV engine, without the engine mount and without C(data/),
        for example C(users/alice/deployments/d1/secrets/htcondor).
    type: str
    required: true
  data:
    description:
      - Key/value pairs to store with O(state=present). The secret is replaced by exactly these keys.
    type: dict
  state:
    description:
      - V(present) writes O(data) when it differs from what is stored.
      - V(absent) deletes the secret, its versions and metadata.
      - V(read) returns the stored data and never changes anything.
    type: str
    choices: [present, absent, read]
    default: present
  missing_ok:
    description:
      - With O(state=read), return RV(exists=false) instead of failing when the secret does not exist.
    type: bool
    default: false
seealso:
  - plugin: infn.cloud.vault_secret
    plugin_type: lookup
  - module: infn.cloud.ssh_keypair
"""

EXAMPLES = r"""
- name: Store the HTCondor pool password of a deployment
  infn.cloud.vault_secret:
    url: https://vault.cloud.infn.it
    auth_method: jwt
    role: infn-cloud
    jwt: "{{ iam_access_token }}"
    path: users/alice/deployments/d1/secrets/htcondor
    data:
      cluster_secret: "{{ generated_secret }}"
  delegate_to: localhost

- name: Read it back (no_log, the result holds the secret)
  infn.cloud.vault_secret:
    path: users/alice/deployments/d1/secrets/htcondor
    state: read
  delegate_to: localhost
  no_log: true
  register: htcondor_secret

- name: Delete it with all its versions
  infn.cloud.vault_secret:
    path: users/alice/deployments/d1/secrets/htcondor
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: Path of the secret inside the engine.
  returned: always
  type: str
  sample: users/alice/deployments/d1/secrets/htcondor
exists:
  description: Whether the secret exists after the task (before it, in check mode).
  returned: always
  type: bool
  sample: true
version:
  description:
    - KV version of the secret after the task.
    - Null when it does not exist, or when check mode predicts it would be created.
  returned: always
  type: int
  sample: 3
data:
  description: The stored key/value pairs.
  returned: when O(state=read) and the secret exists
  type: dict
  sample: {"cluster_secret": "..."}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.infn.cloud.plugins.module_utils._vault import (
    check_path,
    redacted_diff,
    run_vault_module,
    vault_argument_spec,
)


def run(module, conn):
    params = module.params
    path = check_path(params["path"])
    state = params["state"]
    current = conn.kv_read(path)
    result = dict(changed=False, path=path, exists=current is not None, version=None)
    if current is not None:
        result["version"] = current["version"]

    if state == "read":
        if current is None:
            if not params["missing_ok"]:
                module.fail_json(msg="secret %s does not exist" % path, **result)
            return result
        result["data"] = current["data"]
        return result

    before = current["data"] if current else None
    if state == "absent":
        if current is None:
            return result
        result.update(changed=True, exists=False, version=None)
        if module._diff:
            result["diff"] = redacted_diff(before, None)
        if not module.check_mode:
            conn.kv_delete(path)
        return result

    data = params["data"]
    if before == data:
        return result
    result["changed"] = True
    if module._diff:
        result["diff"] = redacted_diff(before, data)
    if not module.check_mode:
        result["version"] = conn.kv_write(path, data)
        result["exists"] = True
    return result


def main():
    argument_spec = vault_argument_spec()
    argument_spec.update(
        path=dict(type="str", required=True),
        data=dict(type="dict", no_log=True),
        state=dict(type="str", choices=["present", "absent", "read"], default="present"),
        missing_ok=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["data"])],
        supports_check_mode=True,
    )
    run_vault_module(module, run, missing_required_lib)


if __name__ == "__main__":
    main()
