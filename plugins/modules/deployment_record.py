#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: deployment_record
short_description: Keep the record of a deployment where the next AWX job finds it
version_added: 0.2.0
author: infn.cloud developers (@infn-cloud)
description:
  - Creates, updates or removes the record of a deployment made by C(playbooks/deploy.yml), that is its id,
    template, status, the sites its attempts touched (what C(playbooks/delete.yml) cleans), outputs and
    host names. A record never holds a secret value (secret outputs are C(<secret:NAME>) markers).
  - The record lives in Vault/OpenBao (KV version 2, C(<vault_path>/<deployment_id>/record)) when a Vault
    address is configured (O(url) or E(INFN_CLOUD_VAULT_ADDR), as AWX injects it from a credential),
    otherwise in O(state_dir) as C(<deployment_id>.json) (0600), e.g. a persistent volume of the job
    containers.
  - O(record) is merged into the stored record (top-level keys are replaced); O(append) adds items to
    list fields (e.g. a site to C(sites)) without duplicates.
extends_documentation_fragment:
  - infn.cloud.vault
  - infn.cloud.record
attributes:
  check_mode:
    description: Reports what would change and writes nothing.
    support: full
  diff_mode:
    description: Shows the record before and after.
    support: full
options:
  state:
    description: V(present) creates or updates the record, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  record:
    description: Fields to set (never secret values).
    type: dict
    default: {}
  append:
    description:
      - "List fields to extend, e.g. C({sites: [LOCAL-BACKBONE]})."
      - Items already there are kept once.
    type: dict
    default: {}
seealso:
  - module: infn.cloud.deployment_record_info
"""

EXAMPLES = r"""
- name: Record that the deployment started on a site
  infn.cloud.deployment_record:
    deployment_id: demo-1
    state_dir: /var/lib/infn-cloud/records
    record:
      template: single_vm
      status: CREATE_IN_PROGRESS
    append:
      sites: [LOCAL-BACKBONE]

- name: Forget it after delete.yml removed everything
  infn.cloud.deployment_record:
    deployment_id: demo-1
    state: absent
"""

RETURN = r"""
record:
  description: The record after the change (absent -> empty).
  returned: always
  type: dict
  sample: {id: demo-1, status: CREATE_COMPLETE, site: LOCAL-BACKBONE, sites: [LOCAL-BACKBONE]}
store:
  description: V(vault) or V(directory).
  returned: always
  type: str
location:
  description: File path or KV path of the record.
  returned: always
  type: str
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.infn.cloud.plugins.module_utils._record import record_argument_spec, run_with_store
from ansible_collections.infn.cloud.plugins.module_utils._vault import vault_argument_spec


def change(module, store):
    params = module.params
    deployment_id = params["deployment_id"]
    before = store.read(deployment_id)
    result = dict(changed=False, location=store.where(deployment_id))
    if params["state"] == "absent":
        result["record"] = {}
        if before is not None:
            result["changed"] = True
            if not module.check_mode:
                store.delete(deployment_id)
        if module._diff:
            result["diff"] = dict(before=before or {}, after={})
        return result
    after = dict(before or {})
    after.setdefault("id", deployment_id)
    after.update(params["record"])
    for key, items in params["append"].items():
        current = list(after.get(key) or [])
        for item in items if isinstance(items, list) else [items]:
            if item not in current:
                current.append(item)
        after[key] = current
    if after != (before or {}):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        after.setdefault("created_at", now)
        after["updated_at"] = now
        result["changed"] = True
        if not module.check_mode:
            store.write(deployment_id, after)
    result["record"] = after
    if module._diff:
        result["diff"] = dict(before=before or {}, after=after)
    return result


def main():
    argument_spec = vault_argument_spec()
    argument_spec.update(record_argument_spec())
    argument_spec.update(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        record=dict(type="dict", default={}),
        append=dict(type="dict", default={}),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_with_store(module, lambda store, kind: dict(change(module, store), store=kind))


if __name__ == "__main__":
    main()
