#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_federation
short_description: Configure a Vault/OpenBao server for an INDIGO IAM federation
version_added: 0.1.0
author: infn.cloud developers (@infn-cloud)
description:
  - Makes sure, reading before writing every item, that the server has
  - a KV version 2 engine at O(kv_mount);
  - a JWT auth method at O(jwt_mount) that trusts the IAM issuer (OIDC discovery, JWKS URL or
    static public keys);
  - a login role that only accepts tokens whose O(groups_claim) contains one of O(groups);
  - a user policy giving every user full access to C(<kv_mount>/users/<user claim>/), built
    from the token's O(user_claim) through a templated policy;
  - for each IAM group, a policy giving access to C(<kv_mount>/groups/<group>/) and an external
    identity group, aliased to the group name on the JWT mount, so that the O(groups_claim) of a
    token selects the group policies.
  - Existing configuration that differs is updated; an existing O(kv_mount) of another type
    is an error (never replaced). Groups removed from O(groups) are not deleted.
extends_documentation_fragment:
  - infn.cloud.vault
  - infn.cloud.vault.attributes
attributes:
  diff_mode:
    description: Lists the items that are created or updated.
    support: full
options:
  kv_mount:
    description: Path of the KV version 2 engine.
    type: str
    default: secret
  jwt_mount:
    description: Path of the JWT auth method.
    type: str
    default: jwt
  oidc_discovery_url:
    description: IAM issuer URL used for OIDC discovery, for example C(https://iam.cloud.infn.it/).
    type: str
  jwks_url:
    description: JWKS URL of the IAM, instead of O(oidc_discovery_url).
    type: str
  jwt_validation_pubkeys:
    description: PEM public keys that sign the tokens, instead of discovery (offline setups, tests).
    type: list
    elements: str
  bound_issuer:
    description: Required C(iss) of tokens.
    type: str
  bound_audiences:
    description: Accepted C(aud) values. Empty accepts tokens without audience check.
    type: list
    elements: str
    default: []
  role_name:
    description: Name of the JWT login role.
    type: str
    default: infn-cloud
  user_claim:
    description: Claim naming the user; becomes the entity alias and the C(users/<name>/) path.
    type: str
    default: sub
  groups_claim:
    description: Claim listing the user's IAM groups.
    type: str
    default: groups
  groups:
    description: IAM groups allowed to log in; each gets its own policy and path.
    type: list
    elements: str
    required: true
  token_ttl:
    description: TTL of tokens issued by the role, for example C(1h).
    type: str
    default: 1h
  policy_prefix:
    description: Prefix of the created policy and identity group names.
    type: str
    default: infn-cloud
notes:
  - Needs a token allowed to manage mounts, auth methods, policies and identity groups (an
    administrator token), usually given with O(token) from an Ansible Vault encrypted variable.
  - Group names may contain C(/) (IAM subgroups); in policy names it becomes C(-).
seealso:
  - module: infn.cloud.vault_secret
"""

EXAMPLES = r"""
- name: Configure the federation's Vault for INFN Cloud IAM
  infn.cloud.vault_federation:
    url: https://vault.cloud.infn.it
    token: "{{ vault_admin_token }}"
    oidc_discovery_url: https://iam.cloud.infn.it/
    bound_issuer: https://iam.cloud.infn.it/
    groups:
      - cms
      - atlas
  delegate_to: localhost
"""

RETURN = r"""
changes:
  description: Human readable list of the items created or updated (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: ["enable kv-v2 engine at secret/", "write policy infn-cloud-group-cms"]
jwt_accessor:
  description: Accessor of the JWT auth mount (null in check mode before it exists).
  returned: always
  type: str
  sample: auth_jwt_1a2b3c4d
policies:
  description: Policy names by role, C(user) and one entry per group.
  returned: always
  type: dict
  sample: {"user": "infn-cloud-user", "groups": {"cms": "infn-cloud-group-cms"}}
"""

import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.infn.cloud.plugins.module_utils._vault import (
    check_path,
    run_vault_module,
    vault_argument_spec,
)

try:
    import hvac.exceptions
except ImportError:
    pass  # reported through HAS_HVAC


def policy_name(prefix, group):
    return "%s-group-%s" % (prefix, re.sub(r"[^A-Za-z0-9_.-]", "-", group).lower())


_CRUDL = '["create", "read", "update", "delete", "list"]'


def _subtree_policy(kv, subtree):
    """Full access to the KV v2 data and metadata under ``<kv>/<subtree>/``."""
    return (
        "# managed by infn.cloud.vault_federation\n"
        'path "%(kv)s/data/%(t)s/*" {\n  capabilities = %(crudl)s\n}\n'
        'path "%(kv)s/metadata/%(t)s/*" {\n  capabilities = ["read", "list", "delete"]\n}\n'
        'path "%(kv)s/metadata/%(t)s" {\n  capabilities = ["list"]\n}\n'
    ) % {"kv": kv, "t": subtree, "crudl": _CRUDL}


def user_policy(kv, accessor):
    # One templated policy for everybody: the path is filled in from the caller's entity
    # alias on the JWT mount, i.e. from the token's user claim.
    return _subtree_policy(kv, "users/{{identity.entity.aliases.%s.name}}" % accessor)


def group_policy(kv, group):
    return _subtree_policy(kv, "groups/%s" % group)


class Federation:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.changes = []

    def change(self, what, action):
        self.changes.append(what)
        if not self.module.check_mode:
            action()

    def _read(self, path):
        try:
            return self.client.read(path)
        except hvac.exceptions.InvalidPath:
            return None

    @staticmethod
    def _mounted(listing, path):
        """What is mounted at path/ (None: nothing), from a sys listing of secrets engines or
        auth methods (hvac returns the mounts at the top level or under data)."""
        mounts = listing()
        return mounts.get("data", mounts).get(path + "/")

    def kv_engine(self):
        kv = self.p["kv_mount"]
        current = self._mounted(self.client.sys.list_mounted_secrets_engines, kv)
        if current is None:
            self.change(
                "enable kv-v2 engine at %s/" % kv,
                lambda: self.client.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"}),
            )
        elif current.get("type") != "kv" or str((current.get("options") or {}).get("version")) != "2":
            self.module.fail_json(
                msg="%s/ is already mounted as %s (options %s), not kv version 2; refusing to replace it"
                % (kv, current.get("type"), current.get("options"))
            )

    def jwt_auth(self):
        mount = self.p["jwt_mount"]
        current = self._mounted(self.client.sys.list_auth_methods, mount)
        if current is None:
            self.change(
                "enable jwt auth at %s/" % mount,
                lambda: self.client.sys.enable_auth_method("jwt", path=mount),
            )
            if self.module.check_mode:
                return None
            current = self._mounted(self.client.sys.list_auth_methods, mount)
        elif current.get("type") not in ("jwt", "oidc"):
            self.module.fail_json(msg="auth path %s/ is a %s method, not jwt" % (mount, current.get("type")))
        return current["accessor"]

    def jwt_config(self):
        mount = self.p["jwt_mount"]
        wanted = {
            "oidc_discovery_url": self.p["oidc_discovery_url"] or "",
            "jwks_url": self.p["jwks_url"] or "",
            "jwt_validation_pubkeys": [k.strip() for k in self.p["jwt_validation_pubkeys"] or []],
            "bound_issuer": self.p["bound_issuer"] or "",
        }
        current = (self._read("auth/%s/config" % mount) or {}).get("data") or {}
        normalized = dict(current)
        normalized["jwt_validation_pubkeys"] = [
            k.strip() for k in current.get("jwt_validation_pubkeys") or []
        ]
        # Vault returns "" / [] / null for unset fields; compare them as equal.
        differs = [k for k, v in wanted.items() if (normalized.get(k) or type(v)()) != v]
        if differs:
            payload = {k: v for k, v in wanted.items() if v}
            self.change(
                "configure jwt auth %s/ (issuer keys and bound issuer)" % mount,
                lambda: self.client.write_data("auth/%s/config" % mount, data=payload),
            )

    def role(self, user_policy_name):
        mount, name = self.p["jwt_mount"], self.p["role_name"]
        wanted = {
            "role_type": "jwt",
            "user_claim": self.p["user_claim"],
            "groups_claim": self.p["groups_claim"],
            "bound_audiences": sorted(self.p["bound_audiences"]),
            "bound_claims": {self.p["groups_claim"]: sorted(self.p["groups"])},
            "token_policies": [user_policy_name],
            "token_ttl": self.p["token_ttl"],
        }
        current = (self._read("auth/%s/role/%s" % (mount, name)) or {}).get("data")
        if current is not None:
            seen = dict(current)
            seen["bound_audiences"] = sorted(seen.get("bound_audiences") or [])
            seen["bound_claims"] = {
                k: sorted(v) if isinstance(v, list) else [v]
                for k, v in (seen.get("bound_claims") or {}).items()
            }
            seen["token_policies"] = list(seen.get("token_policies") or [])
            seen["token_ttl"] = _seconds(seen.get("token_ttl"))
            target = dict(wanted, token_ttl=_seconds(self.p["token_ttl"]))
            if all(seen.get(k) == v for k, v in target.items()):
                return
        self.change(
            "%s jwt role %s" % ("update" if current else "create", name),
            lambda: self.client.write_data("auth/%s/role/%s" % (mount, name), data=wanted),
        )

    def policy(self, name, text):
        current = None
        try:
            current = self.client.sys.read_acl_policy(name)
        except hvac.exceptions.InvalidPath:
            current = None
        if current is not None:
            current = (current.get("data") or current).get("policy")
        if current != text:
            self.change(
                "write policy %s" % name,
                lambda: self.client.sys.create_or_update_acl_policy(name=name, policy=text),
            )

    def identity_group(self, group, policy, accessor):
        name = policy  # one identity group per policy, same name
        current = self._read("identity/group/name/%s" % name)
        current = (current or {}).get("data")
        if (
            current is None
            or sorted(current.get("policies") or []) != [policy]
            or current.get("type") != "external"
        ):
            if current is not None and current.get("type") != "external":
                self.module.fail_json(
                    msg="identity group %s exists and is not external; refusing to change its type" % name
                )
            self.change(
                "%s identity group %s" % ("update" if current else "create", name),
                lambda: self.client.write_data(
                    "identity/group/name/%s" % name, data={"type": "external", "policies": [policy]}
                ),
            )
        alias = (current or {}).get("alias") or {}
        if accessor is None or alias.get("name") != group or alias.get("mount_accessor") != accessor:

            def write_alias():
                group_id = self._read("identity/group/name/%s" % name)["data"]["id"]
                data = {"name": group, "mount_accessor": accessor, "canonical_id": group_id}
                if alias.get("id"):
                    self.client.write_data("identity/group-alias/id/%s" % alias["id"], data=data)
                else:
                    self.client.write_data("identity/group-alias", data=data)

            self.change("alias IAM group %s to identity group %s" % (group, name), write_alias)


def _seconds(value):
    if value is None or isinstance(value, int):
        return value
    match = re.match(r"^(\d+)([smhd]?)$", str(value))
    if not match:
        return value
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def run(module, client):
    p = module.params
    check_path(p["kv_mount"], "kv_mount")
    check_path(p["jwt_mount"], "jwt_mount")
    federation = Federation(module, client)
    federation.kv_engine()
    accessor = federation.jwt_auth()
    federation.jwt_config()
    user_policy_name = "%s-user" % p["policy_prefix"]
    federation.role(user_policy_name)
    federation.policy(user_policy_name, user_policy(p["kv_mount"], accessor or "<jwt accessor>"))
    groups = {}
    for group in p["groups"]:
        name = policy_name(p["policy_prefix"], group)
        groups[group] = name
        federation.policy(name, group_policy(p["kv_mount"], group))
        federation.identity_group(group, name, accessor)
    result = dict(
        changed=bool(federation.changes),
        changes=federation.changes,
        jwt_accessor=accessor,
        policies={"user": user_policy_name, "groups": groups},
    )
    if module._diff and federation.changes:
        result["diff"] = {"before": "", "after": "\n".join(federation.changes) + "\n"}
    return result


def main():
    argument_spec = vault_argument_spec()
    argument_spec.update(
        kv_mount=dict(type="str", default="secret"),
        jwt_mount=dict(type="str", default="jwt"),
        oidc_discovery_url=dict(type="str"),
        jwks_url=dict(type="str"),
        jwt_validation_pubkeys=dict(type="list", elements="str"),
        bound_issuer=dict(type="str"),
        bound_audiences=dict(type="list", elements="str", default=[]),
        role_name=dict(type="str", default="infn-cloud"),
        user_claim=dict(type="str", default="sub"),
        groups_claim=dict(type="str", default="groups"),
        groups=dict(type="list", elements="str", required=True),
        token_ttl=dict(type="str", default="1h", no_log=False),
        policy_prefix=dict(type="str", default="infn-cloud"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("oidc_discovery_url", "jwks_url", "jwt_validation_pubkeys")],
        required_one_of=[("oidc_discovery_url", "jwks_url", "jwt_validation_pubkeys")],
        supports_check_mode=True,
    )
    if not module.params["groups"]:
        module.fail_json(msg="groups must list at least one IAM group")

    def configure(module, conn):
        try:
            return run(module, conn.client)
        except hvac.exceptions.VaultError as exc:
            module.fail_json(msg="Vault at %s refused a configuration request: %s" % (conn.options.url, exc))

    run_vault_module(module, configure, missing_required_lib)


if __name__ == "__main__":
    main()
