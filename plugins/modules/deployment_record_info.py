#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: deployment_record_info
short_description: Read the record of a deployment kept by infn.cloud.deployment_record
version_added: 0.2.0
author: infn.cloud developers (@infn-cloud)
description:
  - Reads the record C(playbooks/deploy.yml) keeps for a deployment (Vault/OpenBao KV or a state
    directory, chosen as M(infn.cloud.deployment_record) chooses), e.g. for C(playbooks/delete.yml)
    running in a later AWX job.
extends_documentation_fragment:
  - infn.cloud.vault
  - infn.cloud.record
attributes:
  check_mode:
    description: Only reads.
    support: full
  diff_mode:
    description: Nothing changes.
    support: none
seealso:
  - module: infn.cloud.deployment_record
"""

EXAMPLES = r"""
- name: Find the deployment to delete
  infn.cloud.deployment_record_info:
    deployment_id: demo-1
    state_dir: /var/lib/infn-cloud/records
  register: found

- name: Show the sites its attempts touched
  ansible.builtin.debug:
    var: found.record.sites
  when: found.exists
"""

RETURN = r"""
exists:
  description: Whether a record was found.
  returned: always
  type: bool
record:
  description: The record (empty when none exists).
  returned: always
  type: dict
store:
  description: V(vault) or V(directory).
  returned: always
  type: str
location:
  description: File path or KV path where the record is (or would be).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.infn.cloud.plugins.module_utils._record import record_argument_spec, run_with_store
from ansible_collections.infn.cloud.plugins.module_utils._vault import vault_argument_spec


def read(store, deployment_id, kind):
    record = store.read(deployment_id)
    return dict(
        changed=False,
        exists=record is not None,
        record=record or {},
        store=kind,
        location=store.where(deployment_id),
    )


def main():
    argument_spec = vault_argument_spec()
    argument_spec.update(record_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_with_store(module, lambda store, kind: read(store, module.params["deployment_id"], kind))


if __name__ == "__main__":
    main()
