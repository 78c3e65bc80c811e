"""Which role of this collection implements a node type, and with which variables.

Our own types (tosca_templates/types/) say it themselves: their Standard.configure
implementation is `infn.cloud.<role>` and its inputs are the role variables. INFN Cloud's
types (tosca.nodes.indigo.*, tosca.nodes.DODAS.*) name playbooks on baltig.infn.it instead;
for the services this collection implements, INFN_TYPE_ROLES maps them onto our roles.
"""

from __future__ import annotations

ROLE_PREFIX = "infn.cloud."


def _warn(ctx: dict, message: str) -> None:
    warn = ctx.get("warn")
    if warn is not None:
        warn(message)


def _split_groups(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if str(v)]
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    return []


def _docker_env(value) -> dict:
    # INFN: environment_variables is a list of single-entry maps
    env: dict = {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    for item in value or []:
        if isinstance(item, dict):
            env.update({str(k): str(v) for k, v in item.items()})
    return env


def _issued(props: dict, ctx: dict, prop: str, attribute: str):
    """A value INFN's orchestrator fills in at deploy time (IAM dynamic client registration).

    INFN templates read the OIDC client from a tosca.nodes.indigo.iam.client node
    (`iam_client_id: {get_property: [iam_client, client_id]}`). The given value is used when the
    user set one; otherwise it stays an expression on that node (a value of deploy time for the
    plan-time contract) and the plan warns that infn-cloud does not register IAM clients: nothing
    fills it, so Ansible's argument validation stops the role when it starts.
    """
    value = props.get(prop)
    if isinstance(value, str) and value:
        return value
    raw = (ctx.get("raw") or {}).get("iam_client_id")  # the client node, named by its id's expression
    args = raw.get("get_property") if isinstance(raw, dict) else None
    if not (isinstance(args, list) and args and isinstance(args[0], str)):
        return value
    if prop == "iam_client_id":
        _warn(
            ctx,
            f"node '{ctx['node']}' property '{prop}': the OIDC client comes from node '{args[0]}' "
            "(IAM dynamic client registration by INFN's orchestrator), which infn-cloud does not do: "
            "a deploy fails when the role starts unless the template sets the client id and secret",
        )
    return {"get_attribute": [args[0], attribute]}


def _jupyterhub(props: dict, ctx: dict) -> dict:
    cert = props.get("cert_manager_type") or "letsencrypt-prod"
    letsencrypt = cert != "self-signed"
    if letsencrypt and "contact_email" not in (ctx.get("raw") or {}):
        # Our role registers with ACME under an e-mail address; this template has no property
        # for one (when it has one, leaving it empty is refused at plan time instead).
        _warn(
            ctx,
            f"node '{ctx['node']}': certificate {cert} needs an ACME contact e-mail (contact_email), "
            "which this template cannot give: a self-signed certificate is used",
        )
        letsencrypt = False
    return {
        "jupyterhub_authenticator": "oidc",
        "jupyterhub_iam_url": props.get("iam_url"),
        "jupyterhub_oauth_client_id": _issued(props, ctx, "iam_client_id", "client_id"),
        "jupyterhub_oauth_client_secret": _issued(props, ctx, "iam_client_secret", "client_secret"),
        "jupyterhub_iam_groups": _split_groups(props.get("iam_groups")),
        "jupyterhub_iam_admin_groups": _split_groups(props.get("iam_admin_groups")),
        "jupyterhub_spawner": "docker",
        "jupyterhub_docker_image": props.get("jupyter_images"),
        "jupyterhub_certificate_type": "letsencrypt" if letsencrypt else "selfsigned",
        "jupyterhub_acme_email": props.get("contact_email") or None,
        "jupyterhub_acme_directory": _ACME_STAGING if cert == "letsencrypt-staging" else None,
        "jupyterhub_domain": props.get("dns_name") or None,
        "jupyterhub_monitoring": bool(props.get("monitoring")),
    }


_ACME_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


def _kubernetes(role: str):
    def build(props: dict, ctx: dict) -> dict:
        result = {
            "kubernetes_role": role,
            "kubernetes_join_token": props.get("admin_token"),
            "kubernetes_gpu": bool(props.get("enable_gpu")),
        }
        if role == "worker":
            result["kubernetes_control_plane_address"] = props.get("front_end_ip")
        return result

    return build


def _htcondor_mini(props: dict, ctx: dict) -> dict:
    # A pool of one host: it is its own central manager and makes its own signing key
    # (no cluster secret to share; see the htcondor role's htcondor_cluster_secret).
    host = ctx.get("host")
    return {
        "htcondor_roles": ["central_manager", "submit", "execute"],
        # Submitters are this host's own users: jobs run as them, in their own directories.
        "htcondor_run_as_owner": True,
        "htcondor_central_manager": {"get_attribute": [host, "private_address", 0]} if host else None,
    }


def _docker_compose(props: dict, ctx: dict) -> dict:
    return {
        "docker_compose_project": props.get("project_name") or ctx["node"],
        "docker_compose_file_url": props.get("docker_compose_file_url") or None,
        "docker_compose_env": _docker_env(props.get("environment_variables")),
    }


def _docker_run(props: dict, ctx: dict) -> dict:
    # A single container becomes a one-service compose project.
    image = f"{props.get('docker_image')}:{props.get('docker_tag') or 'latest'}"
    service = {"image": image, "restart": "unless-stopped", "ports": list(props.get("docker_ports") or [])}
    if props.get("docker_command"):
        service["command"] = props["docker_command"]
    env = _docker_env(props.get("environment_variables"))
    if env:
        service["environment"] = env
    name = props.get("docker_appname") or ctx["node"]
    return {
        "docker_compose_project": name,
        "docker_compose_file_content": {"services": {name: service}},
        "docker_compose_env": {},
    }


def _sync_share(props: dict, ctx: dict) -> dict:
    # INFN's tosca.nodes.indigo.CloudStorageService property names (single-vm/cloud_storage_service.yaml).
    iam_url = props.get("iam_url") or None
    groups = [g for g in (props.get("iam_group"), props.get("iam_admin_group")) if isinstance(g, str) and g]
    return {
        "sync_share_implementation": props.get("data_service_implementation") or "nextcloud",
        "sync_share_hostname": props.get("data_service_hostname") or None,
        "sync_share_s3_endpoint": props.get("s3_endpoint"),
        "sync_share_s3_bucket": props.get("s3_data_bucket"),
        "sync_share_s3_backup_bucket": props.get("s3_backup_bucket") or None,
        "sync_share_s3_access_key": props.get("s3_access_key"),
        "sync_share_s3_secret_key": props.get("s3_secret_key"),
        "sync_share_admin_user": props.get("admin_user") or None,
        "sync_share_admin_password": props.get("admin_passw"),
        "sync_share_iam_url": iam_url,
        "sync_share_oidc_client_id": _issued(props, ctx, "iam_client_id", "client_id") if iam_url else None,
        "sync_share_oidc_client_secret": _issued(props, ctx, "iam_client_secret", "client_secret")
        if iam_url
        else None,
        "sync_share_oidc_allowed_groups": groups,
    }


# Role option -> the INFN property it is built from (named in plan-time contract errors).
INFN_SOURCES = {
    "jupyterhub_iam_url": "iam_url",
    "jupyterhub_oauth_client_id": "iam_client_id",
    "jupyterhub_oauth_client_secret": "iam_client_secret",
    "jupyterhub_iam_groups": "iam_groups",
    "jupyterhub_iam_admin_groups": "iam_admin_groups",
    "jupyterhub_docker_image": "jupyter_images",
    "jupyterhub_certificate_type": "cert_manager_type",
    "jupyterhub_acme_email": "contact_email",
    "jupyterhub_domain": "dns_name",
    "jupyterhub_monitoring": "monitoring",
    "kubernetes_join_token": "admin_token",
    "kubernetes_gpu": "enable_gpu",
    "kubernetes_control_plane_address": "front_end_ip",
    "docker_compose_project": "project_name",
    "docker_compose_file_url": "docker_compose_file_url",
    "docker_compose_env": "environment_variables",
    "sync_share_implementation": "data_service_implementation",
    "sync_share_hostname": "data_service_hostname",
    "sync_share_s3_endpoint": "s3_endpoint",
    "sync_share_s3_bucket": "s3_data_bucket",
    "sync_share_s3_backup_bucket": "s3_backup_bucket",
    "sync_share_s3_access_key": "s3_access_key",
    "sync_share_s3_secret_key": "s3_secret_key",
    "sync_share_admin_user": "admin_user",
    "sync_share_admin_password": "admin_passw",
    "sync_share_iam_url": "iam_url",
    "sync_share_oidc_client_id": "iam_client_id",
    "sync_share_oidc_allowed_groups": "iam_group",
}

# INFN type -> (our role, variables builder). Most-derived match wins (htcondorMini before dockerRun).
INFN_TYPE_ROLES: dict = {
    "tosca.nodes.DODAS.single-node-jupyterhub": ("jupyterhub", _jupyterhub),
    "tosca.nodes.DODAS.FrontEnd.Kubernetes": ("kubernetes", _kubernetes("control_plane")),
    "tosca.nodes.DODAS.WorkerNode.Kubernetes": ("kubernetes", _kubernetes("worker")),
    "tosca.nodes.indigo.htcondorMini": ("htcondor", _htcondor_mini),
    "tosca.nodes.indigo.DockerCompose": ("docker_compose", _docker_compose),
    "tosca.nodes.indigo.dockerRun": ("docker_compose", _docker_run),
    "tosca.nodes.indigo.CloudStorageService": ("sync_share", _sync_share),
}

COMMON_ROLE = ROLE_PREFIX + "common"  # every compute node runs it (users, SSH, base packages)


# Roles that need a capability of the site: the plan puts them in the host's
# required_capabilities, site selection keeps only sites that have them.
def _object_storage_capabilities(variables: dict) -> list[str]:
    # Peers in other regions: one ring across regions, which only backbone sites offer.
    if variables.get("object_storage_peers"):
        return ["object_storage", "replicated_object_storage"]
    return ["object_storage"]


ROLE_CAPABILITIES = {
    "object_storage": _object_storage_capabilities,
}


def required_capabilities(role: str | None, variables: dict) -> list[str]:
    """The site capabilities a role needs with these variables ([] for most roles)."""
    name = role[len(ROLE_PREFIX) :] if role and role.startswith(ROLE_PREFIX) else None
    needs = ROLE_CAPABILITIES.get(name)
    return needs(variables or {}) if needs else []


def infn_role(registry, type_name: str):
    """(role name, builder) for an INFN type or one derived from it, else None."""
    for typedef in registry.chain("node_types", type_name):
        if typedef.name in INFN_TYPE_ROLES:
            return INFN_TYPE_ROLES[typedef.name]
    return None
