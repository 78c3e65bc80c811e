#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ssh_keypair
short_description: Keep a deployment's ed25519 SSH keypair in Vault/OpenBao
version_added: 0.1.0
author: infn.cloud developers (@infn-cloud)
description:
  - Makes sure a deployment has an ed25519 SSH keypair stored in a KV version 2 engine and returns
    its public key. The private key never leaves Vault through this module.
  - An existing keypair is reused, so the module is idempotent; O(force=true) rotates it.
  - The default location is C(users/<user>/deployments/<deployment_id>/ssh) in the engine
    O(engine_mount_point), the same place the infn-cloud CLI uses.
extends_documentation_fragment:
  - infn.cloud.vault
  - infn.cloud.vault.attributes
attributes:
  diff_mode:
    description: Shows whether a keypair is created, rotated or deleted; never the private key.
    support: full
options:
  deployment_id:
    description:
      - Deployment the keypair belongs to (C(infn-cloud deploy) uses UUIDs).
      - The rule every infn.cloud component applies to deployment ids, 1-40 lower-case letters,
        digits and C(-), starting with a letter or digit; anything else fails the task.
    type: str
    required: true
  user:
    description: Owner of the deployment; selects the C(users/<user>/) subtree the owner's policy allows.
    type: str
    required: true
  path:
    description: Override the KV path of the keypair (relative to the engine mount).
    type: str
  comment:
    description: Comment of the public key. Defaults to C(infn-cloud:<deployment_id>).
    type: str
  state:
    description: V(present) creates or reuses the keypair, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  force:
    description: With O(state=present), replace an existing keypair by a new one.
    type: bool
    default: false
requirements:
  - cryptography
notes:
  - In check mode, when no keypair exists yet, RV(public_key) is null, because a key generated
    only for the prediction would never be the one installed later.
seealso:
  - module: infn.cloud.vault_secret
"""

EXAMPLES = r"""
- name: Get (create on first use) the deployment's public key
  infn.cloud.ssh_keypair:
    url: https://vault.cloud.infn.it
    auth_method: jwt
    role: infn-cloud
    jwt: "{{ iam_access_token }}"
    user: alice
    deployment_id: d1
  delegate_to: localhost
  register: deployment_key

- name: Install it for the deployment's user
  ansible.posix.authorized_key:
    user: alice
    key: "{{ deployment_key.public_key }}"

- name: Remove the keypair when the deployment is deleted
  infn.cloud.ssh_keypair:
    user: alice
    deployment_id: d1
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
public_key:
  description: Public key in OpenSSH format; null when absent or not yet created in check mode.
  returned: always
  type: str
  sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... infn-cloud:d1
fingerprint:
  description: SHA256 fingerprint of the public key, as C(ssh-keygen -l) prints it.
  returned: when RV(public_key) is set
  type: str
  sample: SHA256:kq1Qw1b0eVf3B9uQ0x4Y2o8tYVdG0HkQ3lq8y0t1c2E
path:
  description: KV path of the keypair.
  returned: always
  type: str
  sample: users/alice/deployments/d1/ssh
generated:
  description: Whether a new keypair was (or, in check mode, would be) generated.
  returned: always
  type: bool
"""

import base64
import hashlib

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.infn.cloud.plugins.module_utils._deployment import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    deployment_id_problem,
    generate_ssh_keypair,
)
from ansible_collections.infn.cloud.plugins.module_utils._vault import (
    check_path,
    run_vault_module,
    vault_argument_spec,
)


def fingerprint(public_key):
    blob = base64.b64decode(public_key.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return "SHA256:" + digest


def run(module, conn):
    params = module.params
    problem = deployment_id_problem(params["deployment_id"])
    if problem:
        module.fail_json(msg="deployment_id: %s" % problem)
    if params["path"]:
        path = check_path(params["path"])
    else:
        path = "users/%s/deployments/%s/ssh" % (check_path(params["user"], "user"), params["deployment_id"])
    current = conn.kv_read(path)
    stored = current["data"] if current else None
    if stored is not None and not (stored.get("private_key") and stored.get("public_key")):
        module.fail_json(
            msg="%s exists but holds no private_key/public_key pair; refusing to overwrite it" % path
        )
    result = dict(
        changed=False, path=path, generated=False, public_key=stored["public_key"] if stored else None
    )

    if params["state"] == "absent":
        if stored is not None:
            result.update(changed=True, public_key=None)
            if module._diff:
                result["diff"] = dict(before={"keypair": "present"}, after={})
            if not module.check_mode:
                conn.kv_delete(path)
        return finish(result)

    if stored is not None and not params["force"]:
        return finish(result)
    result.update(changed=True, generated=True)
    if module._diff:
        result["diff"] = dict(
            before={"keypair": "present"} if stored else {},
            after={"keypair": "rotated" if stored else "created"},
        )
    if module.check_mode:
        result["public_key"] = None
        return finish(result)
    private, public = generate_ssh_keypair(params["comment"] or "infn-cloud:%s" % params["deployment_id"])
    # cas pins the write to the version read above: two concurrent runs cannot both
    # install different keys; the loser fails instead of silently replacing the winner's key.
    conn.kv_write(
        path, {"private_key": private, "public_key": public}, cas=current["version"] if current else 0
    )
    result["public_key"] = public
    return finish(result)


def finish(result):
    if result.get("public_key"):
        result["fingerprint"] = fingerprint(result["public_key"])
    return result


def main():
    argument_spec = vault_argument_spec()
    argument_spec.update(
        deployment_id=dict(type="str", required=True),
        user=dict(type="str", required=True),
        path=dict(type="str"),
        comment=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        force=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    run_vault_module(module, run, missing_required_lib)


if __name__ == "__main__":
    main()
