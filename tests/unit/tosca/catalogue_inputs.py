"""The inputs a user must supply to each catalogue template (the templates' descriptions say so).

`infn-cloud validate` lists exactly these as required (none: every template has working
defaults); with them (and every other input at its default) each template plans, i.e. its role
variables fit the roles' argument specs.
"""

from __future__ import annotations

USER_INPUTS: dict[str, dict] = {}  # every catalogue template plans and deploys with its defaults

# The inputs of each template's other mode (not its default): an external service the user
# brings. Tests use them as a base to check what those modes need.
OTHER_MODE_INPUTS: dict[str, dict] = {
    "docker_compose": {"docker_compose_file_url": "https://example.org/compose.yaml"},
    "jupyterhub": {
        "authenticator": "oidc",
        "oauth_client_id": "jupyterhub-client",
        "oauth_client_secret": "client-secret-from-iam",
        "iam_groups": ["users"],
        "notebook_storage": "s3",
        "s3_endpoint": "http://s3.example.org:8080",
        "s3_bucket": "notebooks",
        "s3_access_key": "hub:notebooks",
        "s3_secret_key": "s3-secret-key",
    },
    "sync_share": {
        "s3_endpoint": "https://s3.example.org",
        "s3_access_key": "account:user",
        "s3_secret_key": "s3-secret-key",
    },
}


def user_inputs(name: str) -> dict:
    return dict(USER_INPUTS.get(name, {}))


# What INFN's templates leave empty but our roles need, so a user must supply it: JupyterHub's
# allowed groups and ACME contact (infn.cloud.jupyterhub's jupyterhub_requirements), the compose
# file of DockerCompose templates (infn.cloud.docker_compose's docker_compose_requirements).
INFN_USER_INPUTS = {
    "iam_groups": "users",
    "contact_email": "admin@example.org",
    "docker_compose_file_url": "https://example.org/compose.yaml",
}


def infn_user_inputs(path, declared_inputs: list[dict]) -> dict:
    """The inputs a user must add to an INFN reference template for our roles."""
    declared = {e["name"]: e for e in declared_inputs}
    return {k: v for k, v in INFN_USER_INPUTS.items() if k in declared and not declared[k].get("default")}
