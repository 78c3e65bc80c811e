# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
name: update_configure_hosts
short_description: The hosts the configure run of an update needs, as infn-cloud update chooses them
version_added: 0.2.0
author: infn.cloud developers (@infn-cloud)
description:
  - Given the deployment document after an update's provision step, the change that
    M(infn.cloud.deployment_change) computed and the instances the update added, returns the
    inventory hosts C(playbooks/configure.yml) must run on, with the same code as
    C(infn-cloud update) (C(configure_hosts) of C(infn_cloud.deploy.update)).
  - That is the added instances, every instance of a node whose software entry gets new variables
    or secrets, and the hosts those read from in the same play (the Kubernetes control plane when a
    worker is configured, every Swift storage host when one is). An empty list means nothing to
    configure (a pure scale-in). Hosts that nothing changes on are not touched.
requirements:
  - infn-cloud (the Python package of this collection)
positional: _input
options:
  _input:
    description: Path of the deployment document (JSON) the provision step wrote.
    type: path
    required: true
  plan:
    description: The plan of the new inputs (RV(infn.cloud.deployment_change#module:plan)).
    type: dict
    required: true
  change:
    description: The change (RV(infn.cloud.deployment_change#module:change)).
    type: dict
    required: true
  added:
    description: Names of the instances the update added.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Configure only what the update changed
  ansible.builtin.add_host:
    name: "{{ item }}"
    groups: [infn_cloud_update_configure]
  loop: >-
    {{ (workdir ~ '/deployment.json')
       | infn.cloud.update_configure_hosts(plan=change.plan, change=change.change, added=added) }}
"""

RETURN = r"""
_value:
  description: Inventory host names, sorted.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.infn.cloud.plugins.filter.deployment_hosts import read_document

try:
    from infn_cloud.deploy.update import configure_hosts
except ImportError as exc:  # the package is a requirement of the update job, as of deployment_change
    configure_hosts = None
    IMPORT_ERROR = str(exc)


def update_configure_hosts(path, plan=None, change=None, added=None):
    if configure_hosts is None:
        raise AnsibleFilterError(
            "update_configure_hosts needs the infn-cloud Python package: %s" % IMPORT_ERROR
        )
    document = read_document(path)
    if not isinstance(plan, dict) or not isinstance(change, dict):
        raise AnsibleFilterError(
            "update_configure_hosts: plan and change must be maps (deployment_change's result)"
        )
    return configure_hosts(plan, change, document.get("resources") or {}, [str(a) for a in added or []])


class FilterModule(object):
    def filters(self):
        return {"update_configure_hosts": update_configure_hosts}
