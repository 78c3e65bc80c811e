# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""What every part of infn.cloud agrees on about a deployment: its id and its SSH keypair.

The one implementation, used by the modules (shipped to the target with them) and by the
infn-cloud CLI (``infn_cloud.module_utils.load("_deployment")``):

- ``deployment_id_problem(value)``: why ``value`` is not a deployment id, or None. Ids become
  container, volume and server names, Vault path segments and file names: 1-40 lower-case
  letters, digits and '-', starting with a letter or digit (``infn-cloud deploy`` uses UUIDs);
- ``generate_ssh_keypair(comment)``: a new ed25519 keypair in OpenSSH formats.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import traceback

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

# The one secret marker: where a secret value was, plans, deployment documents, stored inputs,
# logs and human output carry <secret:NAME> (the CLI's redactor writes it; the
# infn.cloud.deployment_hosts filter puts the secrets back for add_host).
SECRET_MARKER = "<secret:{}>"  # noqa: S105 (a format, not a password)

DEPLOYMENT_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,39}"  # the whole value
DEPLOYMENT_ID_RULE = "1-40 characters: lower-case letters, digits and '-', starting with a letter or digit"
_DEPLOYMENT_ID = re.compile(DEPLOYMENT_ID_PATTERN)


def deployment_id_problem(value):
    """None when ``value`` is a valid deployment id, else a message naming it and the rule."""
    if isinstance(value, str) and _DEPLOYMENT_ID.fullmatch(value):
        return None
    return "invalid deployment id %r: expected %s" % (value, DEPLOYMENT_ID_RULE)


def generate_ssh_keypair(comment):
    """(private key in OpenSSH PEM format, public key line 'ssh-ed25519 AAAA... comment')."""
    if not HAS_CRYPTOGRAPHY:
        raise ImportError("the cryptography Python library is required to generate SSH keys")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, "%s %s" % (public.decode("ascii"), comment)
