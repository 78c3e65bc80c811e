# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection and authentication options shared by every infn.cloud Vault plugin.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Address of the Vault or OpenBao server, for example C(https://vault.example.org:8200).
      - If not set, the E(INFN_CLOUD_VAULT_ADDR) environment variable is used.
    type: str
  auth_method:
    description:
      - How to log in.
      - V(token) uses O(token). V(approle) uses O(role_id) and O(secret_id).
        V(jwt) uses O(jwt) and O(role), for example an INDIGO IAM access token.
    type: str
    choices: [token, approle, jwt]
    default: token
  token:
    description:
      - Vault token for O(auth_method=token).
      - If not set, the E(INFN_CLOUD_VAULT_TOKEN) environment variable is used.
      - E(VAULT_TOKEN) and C(~/.vault-token) are deliberately B(not) used, so a play never
        acts with an operator's ambient (possibly root) token by accident.
    type: str
  role_id:
    description: AppRole role ID for O(auth_method=approle).
    type: str
  secret_id:
    description: AppRole secret ID for O(auth_method=approle).
    type: str
  jwt:
    description: Signed JSON Web Token for O(auth_method=jwt).
    type: str
  role:
    description: Name of the JWT auth role to log in with, for O(auth_method=jwt).
    type: str
  auth_mount_point:
    description:
      - Mount point of the auth method.
      - Defaults to V(approle) or V(jwt) according to O(auth_method).
    type: str
  engine_mount_point:
    description: Mount point of the KV version 2 secrets engine.
    type: str
    default: secret
  namespace:
    description:
      - Vault Enterprise / OpenBao namespace.
      - If not set, the E(INFN_CLOUD_VAULT_NAMESPACE) environment variable is used.
    type: str
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_cert:
    description: CA bundle to verify the server's certificate with.
    type: path
  timeout:
    description: Timeout in seconds of each request to Vault.
    type: int
    default: 30
notes:
  - Tokens obtained by logging in with V(approle) or V(jwt) are revoked when the plugin finishes.
  - Requires the C(hvac) Python library on the host that runs the plugin, usually the
    controller (C(delegate_to=localhost)).
requirements:
  - hvac >= 2.0
"""

    ATTRIBUTES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying Vault.
    support: full
  action_group:
    description: Use C(group/infn.cloud.infn) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - infn.cloud.infn
"""
