"""The inputs a user must supply to each catalogue template (the templates' descriptions say so).

`infn-cloud validate` lists exactly these as required; with them (and every other input at its
default) each template plans, i.e. its role variables fit the roles' argument specs.
"""

from __future__ import annotations

USER_INPUTS: dict[str, dict] = {
    "docker_compose": {"docker_compose_file_url": "https://example.org/compose.yaml"},
    "jupyterhub": {
        "oauth_client_id": "jupyterhub-client",
        "oauth_client_secret": "client-secret-from-iam",
        "iam_groups": ["users"],
    },
    "sync_share": {
        "s3_endpoint": "https://s3.example.org",
        "s3_access_key": "account:user",
        "s3_secret_key": "s3-secret-key",
    },
}


def user_inputs(name: str) -> dict:
    return dict(USER_INPUTS.get(name, {}))


# INFN's JupyterHub templates leave the allowed groups and the ACME contact empty; our role
# needs them (infn.cloud.jupyterhub's jupyterhub_requirements), so a user must supply them.
INFN_USER_INPUTS = {"iam_groups": "users", "contact_email": "admin@example.org"}


def infn_user_inputs(path, declared_inputs: list[dict]) -> dict:
    """The inputs a user must add to an INFN reference template for our roles (by its folder)."""
    if "jupyter" not in getattr(path, "parts", ()):
        return {}
    declared = {e["name"] for e in declared_inputs}
    return {k: v for k, v in INFN_USER_INPUTS.items() if k in declared}
