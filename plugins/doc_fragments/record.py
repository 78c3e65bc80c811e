# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where a deployment record is kept: the options of module_utils/_record.py's
    # record_argument_spec(), shared by deployment_record and deployment_record_info.
    DOCUMENTATION = r"""
options:
  deployment_id:
    description: Id of the deployment (1-40 lower-case letters, digits and C(-)).
    type: str
    required: true
  store:
    description:
      - V(auto) uses Vault when a Vault address is configured, else O(state_dir).
    type: str
    choices: [auto, vault, directory]
    default: auto
  state_dir:
    description:
      - Directory of the records for the V(directory) store.
      - Created with mode 0700 if missing when a record is written.
    type: path
  vault_path:
    description: KV path under which records are kept. Default C(users/<user>/deployments).
    type: str
  user:
    description: Owner whose C(users/<user>/) Vault subtree holds the records.
    type: str
    default: awx
"""
