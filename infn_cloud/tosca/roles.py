"""Which role of this collection implements a node type, and with which variables.

Our own types (tosca_templates/types/) say it themselves: their Standard.configure
implementation is `infn.cloud.<role>` and its inputs are the role variables. INFN Cloud's
types (tosca.nodes.indigo.*, tosca.nodes.DODAS.*) name playbooks on baltig.infn.it instead;
for the services this collection implements, INFN_TYPE_ROLES maps them onto our roles.
"""

from __future__ import annotations

ROLE_PREFIX = "infn.cloud."


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


def _jupyterhub(props: dict, ctx: dict) -> dict:
    cert = props.get("cert_manager_type") or "letsencrypt-prod"
    return {
        "jupyterhub_authenticator": "oidc",
        "jupyterhub_iam_url": props.get("iam_url"),
        "jupyterhub_oauth_client_id": props.get("iam_client_id"),
        "jupyterhub_iam_groups": _split_groups(props.get("iam_groups")),
        "jupyterhub_iam_admin_groups": _split_groups(props.get("iam_admin_groups")),
        "jupyterhub_spawner": "docker",
        "jupyterhub_docker_image": props.get("jupyter_images"),
        "jupyterhub_certificate_type": "selfsigned" if cert == "self-signed" else "letsencrypt",
        "jupyterhub_monitoring": bool(props.get("monitoring")),
    }


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
    return {"htcondor_roles": ["central_manager", "submit", "execute"], "htcondor_central_manager": None}


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
    return {
        "sync_share_implementation": props.get("data_service_implementation") or "nextcloud",
        "sync_share_s3_endpoint": props.get("s3_url"),
        "sync_share_s3_bucket": props.get("data_bucket_name"),
        "sync_share_s3_access_key": props.get("aws_access_key"),
        "sync_share_s3_secret_key": props.get("aws_secret_key"),
        "sync_share_admin_password": props.get("admin_password"),
    }


# Role option -> the INFN property it is built from (named in plan-time contract errors).
INFN_SOURCES = {
    "jupyterhub_iam_url": "iam_url",
    "jupyterhub_oauth_client_id": "iam_client_id",
    "jupyterhub_iam_groups": "iam_groups",
    "jupyterhub_iam_admin_groups": "iam_admin_groups",
    "jupyterhub_docker_image": "jupyter_images",
    "jupyterhub_certificate_type": "cert_manager_type",
    "jupyterhub_monitoring": "monitoring",
    "kubernetes_join_token": "admin_token",
    "kubernetes_gpu": "enable_gpu",
    "kubernetes_control_plane_address": "front_end_ip",
    "docker_compose_project": "project_name",
    "docker_compose_file_url": "docker_compose_file_url",
    "docker_compose_env": "environment_variables",
    "sync_share_implementation": "data_service_implementation",
    "sync_share_s3_endpoint": "s3_url",
    "sync_share_s3_bucket": "data_bucket_name",
    "sync_share_s3_access_key": "aws_access_key",
    "sync_share_s3_secret_key": "aws_secret_key",
    "sync_share_admin_password": "admin_password",
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

# Roles that need a capability of the site (used by site selection).
ROLE_CAPABILITIES = {
    "object_storage": ["object_storage"],
}


def infn_role(registry, type_name: str):
    """(role name, builder) for an INFN type or one derived from it, else None."""
    for typedef in registry.chain("node_types", type_name):
        if typedef.name in INFN_TYPE_ROLES:
            return INFN_TYPE_ROLES[typedef.name]
    return None
