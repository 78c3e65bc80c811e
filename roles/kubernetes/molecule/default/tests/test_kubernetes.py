"""What the scenario can prove without pkgs.k8s.io: containerd ready for kubelet, kernel
settings in place, and the kubeadm configuration and add-on manifests valid for Kubernetes 1.31.

The test stops before kubeadm/kubelet: no `kubeadm init`/`join` runs here (README)."""

import os
import subprocess
import sys

import jsonschema
import pytest
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from kubeadm_schema import BY_KIND

CP = "kubernetes-cp"
WORKER = "kubernetes-gpuworker"
# `host` is the control plane, reached with `podman exec` (faster than the ansible backend);
# worker checks open their own connection with host.get_host().
testinfra_hosts = [f"podman://{CP}"]
ADDONS = "/etc/kubernetes/infn-cloud/addons"
K8S_SCHEMA_VERSION = "1.31.0"  # kubernetes_version of the converge, for kubernetes-validate
TOKEN = "abcdef.0123456789abcdef"  # noqa: S105 - the converge's test bootstrap token


def _documents(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _by_kind(docs):
    return {doc["kind"]: doc for doc in docs}


def test_containerd_running_with_systemd_cgroups(host):
    assert host.service("containerd").is_running
    assert host.service("containerd").is_enabled
    version = host.run("ctr version")
    assert version.rc == 0, version.stderr
    assert "Server:" in version.stdout
    config = host.file("/etc/containerd/config.toml").content_string
    assert "SystemdCgroup = true" in config
    # the daemon really runs with it: CRI plugin loaded, runc options as written
    dump = host.check_output("containerd config dump")
    assert "SystemdCgroup = true" in dump
    assert 'sandbox_image = "registry.k8s.io/pause:3.10"' in dump
    plugins = host.check_output("ctr plugins ls")
    cri = [line for line in plugins.splitlines() if "io.containerd.grpc.v1" in line and " cri " in line]
    assert cri and cri[0].split()[-1] == "ok", plugins


def test_gpu_worker_uses_nvidia_runtime(host):
    worker = host.get_host(f"podman://{WORKER}")
    dump = worker.check_output("containerd config dump")
    assert 'default_runtime_name = "nvidia"' in dump
    assert 'BinaryName = "/usr/bin/nvidia-container-runtime"' in dump
    assert 'default_runtime_name = "runc"' in host.check_output("containerd config dump")


def test_kernel_settings_rendered(host):
    modules = host.file("/etc/modules-load.d/50-infn-cloud-kubernetes.conf").content_string.split()
    assert {"overlay", "br_netfilter"} <= set(modules)
    sysctls = host.file("/etc/sysctl.d/50-infn-cloud-kubernetes.conf").content_string
    for line in (
        "net.bridge.bridge-nf-call-iptables = 1",
        "net.bridge.bridge-nf-call-ip6tables = 1",
        "net.ipv4.ip_forward = 1",
    ):
        assert line in sysctls
    # the file is well-formed for sysctl: parse it without applying (/proc/sys is read-only here)
    result = host.run("sysctl --dry-run -p /etc/sysctl.d/50-infn-cloud-kubernetes.conf 2>&1 || true")
    assert "syntax" not in result.stdout.lower()


@pytest.mark.parametrize("name", [CP, WORKER])
def test_kubeadm_configuration_matches_v1beta4_schema(host, name):
    node = host.get_host(f"podman://{name}")
    conf = node.file("/etc/kubernetes/infn-cloud/kubeadm.yaml")
    assert conf.mode == 0o600 and conf.user == "root"
    docs = _documents(conf.content_string)
    assert docs
    for doc in docs:
        jsonschema.validate(doc, BY_KIND[doc["kind"]])


def test_control_plane_configuration_values(host):
    docs = _by_kind(_documents(host.file("/etc/kubernetes/infn-cloud/kubeadm.yaml").content_string))
    kinds = {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"}
    assert set(docs) == kinds
    init, cluster = docs["InitConfiguration"], docs["ClusterConfiguration"]
    assert init["bootstrapTokens"][0]["token"] == TOKEN
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.89.7.10", "bindPort": 6443}
    labels = {"name": "node-labels", "value": "infn.cloud/pool=system"}
    assert labels in init["nodeRegistration"]["kubeletExtraArgs"]
    assert cluster["kubernetesVersion"] == "v1.31.4"
    assert cluster["controlPlaneEndpoint"] == "10.89.7.10:6443"
    assert cluster["networking"]["podSubnet"] == "10.250.0.0/16"
    assert cluster["apiServer"]["certSANs"] == ["10.89.7.10", "k8s.example.org"]
    token_arg = {"name": "token-auth-file", "value": "/etc/kubernetes/pki/infn-cloud-tokens.csv"}
    assert token_arg in cluster["apiServer"]["extraArgs"]
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_worker_join_configuration_values(host):
    worker = host.get_host(f"podman://{WORKER}")
    docs = _by_kind(_documents(worker.file("/etc/kubernetes/infn-cloud/kubeadm.yaml").content_string))
    assert set(docs) == {"JoinConfiguration"}
    discovery = docs["JoinConfiguration"]["discovery"]["bootstrapToken"]
    assert discovery["token"] == TOKEN
    assert discovery["apiServerEndpoint"] == "10.89.7.10:6443"
    assert discovery["caCertHashes"] == ["sha256:" + "0123456789abcdef" * 4]
    labels = docs["JoinConfiguration"]["nodeRegistration"]["kubeletExtraArgs"]
    assert {"name": "node-labels", "value": "nvidia.com/gpu.present=true"} in labels
    # workers render no add-ons and hold no admin token
    assert not worker.file(ADDONS).exists
    assert not worker.file("/etc/kubernetes/pki/infn-cloud-tokens.csv").exists


def test_admin_token_file_is_private(host):
    tokens = host.file("/etc/kubernetes/pki/infn-cloud-tokens.csv")
    assert tokens.mode == 0o600 and tokens.user == "root"
    assert tokens.content_string == "molecule-admin-token-0123456789,kubeuser,kubeuser\n"


def _addon_files(host):
    return sorted(host.file(ADDONS).listdir())


def test_expected_addons_rendered(host):
    assert _addon_files(host) == [
        "10-cni-flannel.yaml",
        "20-ingress-nginx.yaml",
        "30-admin-access.yaml",
        "40-dashboard-ingress.yaml",
        "50-nvidia-device-plugin.yaml",
    ]


def test_addons_valid_against_kubernetes_schemas(host, tmp_path):
    """Strict validation (unknown fields rejected) with kubernetes-validate's offline schemas."""
    for name in _addon_files(host):
        path = tmp_path / name
        path.write_text(host.file(f"{ADDONS}/{name}").content_string)
        result = subprocess.run(
            ["kubernetes-validate", "--strict", "-k", K8S_SCHEMA_VERSION, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "INFO" in result.stdout and "ERROR" not in result.stdout


def test_addons_decode_as_typed_objects_in_kubectl(host):
    """kubectl (Debian's kubernetes-client) offline: `apply/create --dry-run=client` need an API
    server for discovery, `label --local` does not and decodes each built-in kind into its
    typed Go struct, so a field of the wrong type fails."""
    for name in _addon_files(host):
        docs = _documents(host.file(f"{ADDONS}/{name}").content_string)
        label = f"kubectl label --local --dry-run=client -o name -f {ADDONS}/{name} infn.cloud/check=ok"
        result = host.run(label)
        assert result.rc == 0, f"{name}: {result.stderr}"
        expected = [d["kind"].lower() for d in docs]
        assert [line.split("/")[0].split(".")[0] for line in result.stdout.split()] == expected, name


def test_addon_values(host):
    flannel = _by_kind(_documents(host.file(f"{ADDONS}/10-cni-flannel.yaml").content_string))
    assert '"Network": "10.250.0.0/16"' in flannel["ConfigMap"]["data"]["net-conf.json"]
    ingress = _by_kind(_documents(host.file(f"{ADDONS}/40-dashboard-ingress.yaml").content_string))["Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "dashboard.192.0.2.10.myip.cloud.infn.it"
    admin_docs = _documents(host.file(f"{ADDONS}/30-admin-access.yaml").content_string)
    admin = _by_kind(admin_docs)["ClusterRoleBinding"]
    assert admin["roleRef"]["name"] == "cluster-admin"
    assert admin["subjects"][0]["name"] == "kubeuser"


def test_kubeadm_not_installed_where_the_test_stops(host):
    # documents where the scenario stops: no kubeadm/kubelet, no init ran
    assert not host.exists("kubeadm")
    assert not host.file("/etc/kubernetes/admin.conf").exists
