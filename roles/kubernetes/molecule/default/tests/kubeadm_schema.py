"""JSON schemas of the kubeadm configuration kinds this role renders (kubeadm.k8s.io/v1beta4).

kubeadm cannot be installed here (pkgs.k8s.io is unreachable), so `kubeadm config validate`
is not available: these schemas carry the fields and types of the v1beta4 API reference
(https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/) with
additionalProperties: false, so a misspelt or misplaced field fails like kubeadm's strict
decoding does. Only the fields relevant to a kubeadm node are spelled out in depth.
"""

DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
BOOTSTRAP_GROUP = {"type": "string", "pattern": r"^system:bootstrappers:"}
RELEASE = {"type": "string", "pattern": r"^(v[0-9]+\.[0-9]+\.[0-9]+|stable-[0-9]+\.[0-9]+)$"}
TOKEN = {"type": "string", "pattern": r"^[a-z0-9]{6}\.[a-z0-9]{16}$"}
ARGS = {  # v1beta4: extraArgs are lists of name/value pairs (maps were v1beta3)
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "value"],
        "properties": {"name": {"type": "string", "minLength": 1}, "value": {"type": "string"}},
    },
}
TAINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "effect"],
    "properties": {
        "key": {"type": "string"},
        "value": {"type": "string"},
        "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
        "timeAdded": {"type": "string"},
    },
}
NODE_REGISTRATION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "criSocket": {"type": "string", "pattern": r"^unix://"},
        "taints": {"type": ["array", "null"], "items": TAINT},
        "kubeletExtraArgs": ARGS,
        "ignorePreflightErrors": {"type": "array", "items": {"type": "string"}},
        "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        "imagePullSerial": {"type": "boolean"},
    },
}
API_ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "advertiseAddress": {"type": "string", "minLength": 1},
        "bindPort": {"type": "integer", "minimum": 1, "maximum": 65535},
    },
}
CONTROL_PLANE_COMPONENT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "extraArgs": ARGS,
        "extraVolumes": {"type": "array", "items": {"type": "object"}},
        "extraEnvs": {"type": "array", "items": {"type": "object"}},
    },
}
HEADER = {"apiVersion": {"const": "kubeadm.k8s.io/v1beta4"}}

INIT_CONFIGURATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind"],
    "properties": {
        **HEADER,
        "kind": {"const": "InitConfiguration"},
        "bootstrapTokens": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["token"],
                "properties": {
                    "token": TOKEN,
                    "description": {"type": "string"},
                    "ttl": DURATION,
                    "expires": {"type": "string"},
                    "usages": {"type": "array", "items": {"enum": ["signing", "authentication"]}},
                    "groups": {"type": "array", "items": BOOTSTRAP_GROUP},
                },
            },
        },
        "nodeRegistration": NODE_REGISTRATION,
        "localAPIEndpoint": API_ENDPOINT,
        "certificateKey": {"type": "string"},
        "skipPhases": {"type": "array", "items": {"type": "string"}},
        "patches": {"type": "object"},
        "timeouts": {"type": "object"},
    },
}

CLUSTER_CONFIGURATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind"],
    "properties": {
        **HEADER,
        "kind": {"const": "ClusterConfiguration"},
        "etcd": {"type": "object"},
        "networking": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "serviceSubnet": {"type": "string", "pattern": r"^[0-9.:a-f]+/[0-9]+(,[0-9.:a-f]+/[0-9]+)?$"},
                "podSubnet": {"type": "string", "pattern": r"^[0-9.:a-f]+/[0-9]+(,[0-9.:a-f]+/[0-9]+)?$"},
                "dnsDomain": {"type": "string"},
            },
        },
        "kubernetesVersion": RELEASE,
        "controlPlaneEndpoint": {"type": "string", "pattern": r"^[^:]+:[0-9]+$"},
        "apiServer": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **CONTROL_PLANE_COMPONENT["properties"],
                "certSANs": {"type": "array", "items": {"type": "string"}},
            },
        },
        "controllerManager": CONTROL_PLANE_COMPONENT,
        "scheduler": CONTROL_PLANE_COMPONENT,
        "dns": {"type": "object"},
        "proxy": {"type": "object"},
        "certificatesDir": {"type": "string"},
        "imageRepository": {"type": "string"},
        "featureGates": {"type": "object"},
        "clusterName": {"type": "string"},
        "encryptionAlgorithm": {"enum": ["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384"]},
        "certificateValidityPeriod": {"type": "string"},
        "caCertificateValidityPeriod": {"type": "string"},
    },
}

JOIN_CONFIGURATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "discovery"],
    "properties": {
        **HEADER,
        "kind": {"const": "JoinConfiguration"},
        "nodeRegistration": NODE_REGISTRATION,
        "caCertPath": {"type": "string"},
        "discovery": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "bootstrapToken": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["token", "apiServerEndpoint"],
                    "properties": {
                        "token": TOKEN,
                        "apiServerEndpoint": {"type": "string", "pattern": r"^[^:]+:[0-9]+$"},
                        "caCertHashes": {
                            "type": "array",
                            "items": {"type": "string", "pattern": r"^sha256:[0-9a-f]{64}$"},
                        },
                        "unsafeSkipCAVerification": {"type": "boolean"},
                    },
                },
                "file": {"type": "object"},
                "tlsBootstrapToken": {"type": "string"},
            },
        },
        "controlPlane": {"type": "object"},
        "skipPhases": {"type": "array", "items": {"type": "string"}},
        "patches": {"type": "object"},
        "timeouts": {"type": "object"},
    },
}

KUBELET_CONFIGURATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "cgroupDriver"],
    "properties": {
        "apiVersion": {"const": "kubelet.config.k8s.io/v1beta1"},
        "kind": {"const": "KubeletConfiguration"},
        "cgroupDriver": {"enum": ["systemd", "cgroupfs"]},
    },
}

KUBE_PROXY_CONFIGURATION = {
    "type": "object",
    "required": ["apiVersion", "kind"],
    "properties": {
        "apiVersion": {"const": "kubeproxy.config.k8s.io/v1alpha1"},
        "kind": {"const": "KubeProxyConfiguration"},
        "mode": {"enum": ["", "iptables", "ipvs", "nftables"]},
    },
}

BY_KIND = {
    "InitConfiguration": INIT_CONFIGURATION,
    "ClusterConfiguration": CLUSTER_CONFIGURATION,
    "JoinConfiguration": JOIN_CONFIGURATION,
    "KubeletConfiguration": KUBELET_CONFIGURATION,
    "KubeProxyConfiguration": KUBE_PROXY_CONFIGURATION,
}
