# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vault_secret
short_description: Read secrets from a Vault/OpenBao KV version 2 engine
version_added: 0.1.0
author: infn.cloud developers (@infn-cloud)
description:
  - Returns the data of each secret path given as a term, or one field of it with O(field).
  - Uses the same connection options as the infn.cloud Vault modules; the token is never taken
    from E(VAULT_TOKEN) or C(~/.vault-token).
  - Lookups are evaluated every time the variable that holds them is templated, each time with a
    new login for V(approle)/V(jwt) (tokens are revoked afterwards). To read a secret once,
    prefer the M(infn.cloud.vault_secret) module with O(infn.cloud.vault_secret#module:state=read)
    and C(register).
extends_documentation_fragment:
  - infn.cloud.vault
options:
  _terms:
    description: Secret paths inside the KV engine (without the engine mount and C(data/)).
    type: list
    elements: str
    required: true
  field:
    description: Return only this key of each secret instead of the whole data dictionary.
    type: str
  default:
    description:
      - Returned for a secret that does not exist. Without it, a missing secret is an error.
    type: raw
"""

EXAMPLES = r"""
- name: Use a deployment's HTCondor secret in a template
  ansible.builtin.template:
    src: condor_pool_password.j2
    dest: /etc/condor/passwords.d/POOL
    mode: "0600"
  vars:
    htcondor_cluster_secret: >-
      {{ lookup('infn.cloud.vault_secret', 'users/alice/deployments/d1/secrets/htcondor',
                field='cluster_secret', url='https://vault.cloud.infn.it',
                auth_method='jwt', role='infn-cloud', jwt=iam_access_token) }}
  no_log: true
"""

RETURN = r"""
_raw:
  description: One element per term, the secret's data dictionary or the value of O(field).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.module_utils.basic import missing_required_lib
from ansible.plugins.lookup import LookupBase
from ansible_collections.infn.cloud.plugins.module_utils._vault import (
    HAS_HVAC,
    VaultConnection,
    VaultError,
    VaultOptionError,
    VaultOptions,
)

_MISSING = object()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if not HAS_HVAC:
            raise AnsibleError(missing_required_lib("hvac"))
        self.set_options(var_options=variables, direct=kwargs)
        field = self.get_option("field")
        default = self.get_option("default") if "default" in kwargs else _MISSING
        try:
            options = VaultOptions.from_getter(self.get_option)
            with VaultConnection(options) as conn:
                return [self._one(conn, term, field, default) for term in terms]
        except (VaultOptionError, VaultError) as exc:
            raise AnsibleLookupError("infn.cloud.vault_secret: %s" % exc) from None

    @staticmethod
    def _one(conn, path, field, default):
        secret = conn.kv_read(path)
        if secret is None:
            if default is _MISSING:
                raise AnsibleLookupError("infn.cloud.vault_secret: secret %s does not exist" % path)
            return default
        if field is None:
            return secret["data"]
        if field not in secret["data"]:
            raise AnsibleLookupError(
                "infn.cloud.vault_secret: secret %s has no key %r (keys: %s)"
                % (path, field, ", ".join(sorted(secret["data"])))
            )
        return secret["data"][field]
