# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
name: deployment_hosts
short_description: The hosts of a deployment document, ready for ansible.builtin.add_host
version_added: 0.2.0
author: infn.cloud developers (@infn-cloud)
description:
  - Reads a deployment document (written by C(python -m infn_cloud.deploy.provision create)) and returns
    one item per host, C({name, groups, vars}), with exactly the groups and host variables the
    M(infn.cloud.deployment) inventory plugin gives it (connection, pinned host key, C(infn_cloud_software),
    IM variables...). C(playbooks/deploy.yml) adds them with M(ansible.builtin.add_host), which works
    inside an AWX job where C(ansible.builtin.meta) V(refresh_inventory) cannot add hosts.
  - Role variables that hold secrets carry C(<secret:NAME>) markers in the document. With O(secrets)
    (marker name -> value), such a variable is taken out of the host's software entry (so
    C(playbooks/tasks/apply_entry.yml) does not set the marker) and set as a host variable with the
    real value instead, the way C(infn-cloud deploy) passes it as an extra var. Use C(no_log) on tasks
    that show the result.
  - Every value comes back marked unsafe (never templated).
positional: _input
options:
  _input:
    description: Path of the deployment document (JSON).
    type: path
    required: true
  secrets:
    description: Secret values by marker name, as M(infn.cloud.survey_inputs) returns them.
    type: dict
    default: {}
  groups:
    description: More groups to put every host in.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Add the new hosts to this job's inventory
  ansible.builtin.add_host:
    name: "{{ item.name }}"
    groups: "{{ item.groups }}"
    host_vars: "{{ item.vars }}"
  loop: "{{ '/tmp/demo-1/deployment.json' | infn.cloud.deployment_hosts(secrets=survey.secrets) }}"
  loop_control:
    label: "{{ item.name }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: One item per host.
  type: list
  elements: dict
  contains:
    name: {description: Inventory host name., type: str}
    groups: {description: Groups of the host., type: list, elements: str}
    vars: {description: Host variables., type: dict}
"""

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.infn.cloud.plugins.inventory.deployment import hosts_from_document, make_unsafe
from ansible_collections.infn.cloud.plugins.module_utils._deployment import SECRET_MARKER


def _has_marker(value):
    return "<secret:" in json.dumps(value)


def _unredact(value, secrets):
    if isinstance(value, str):
        for name, secret in secrets.items():
            value = value.replace(SECRET_MARKER.format(name), str(secret))
        return value
    if isinstance(value, list):
        return [_unredact(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _unredact(item, secrets) for key, item in value.items()}
    return value


def read_document(path):
    """The deployment document at path (JSON); an error naming it when it cannot be read.
    Also the update_configure_hosts filter's reader."""
    try:
        with open(str(path), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise AnsibleFilterError("deployment document %s cannot be read: %s" % (path, exc)) from None


def deployment_hosts(path, secrets=None, groups=None):
    document = read_document(path)
    secrets = {str(k): v for k, v in dict(secrets or {}).items()}
    items = []
    for host, host_groups, hostvars in hosts_from_document(document):
        hostvars = dict(hostvars)
        software = []
        for entry in hostvars.get("infn_cloud_software") or []:
            entry = dict(entry)
            role_vars = dict(entry.get("vars") or {})
            for name, value in list(role_vars.items()):
                if secrets and _has_marker(value):
                    real = _unredact(value, secrets)
                    if _has_marker(real):
                        raise AnsibleFilterError(
                            "host %s: role variable %s holds a secret marker with no value given"
                            % (host, name)
                        )
                    role_vars[name] = None  # apply_entry.yml skips nulls: the host variable applies
                    hostvars[name] = real
            entry["vars"] = role_vars
            software.append(entry)
        hostvars["infn_cloud_software"] = software
        items.append({"name": host, "groups": list(host_groups) + list(groups or []), "vars": hostvars})
    return make_unsafe(items)


class FilterModule(object):
    def filters(self):
        return {"deployment_hosts": deployment_hosts}
