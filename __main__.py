"""browser-platform: one `pulumi up` per stack builds the cluster and everything on it."""

import pulumi

from components.platform import build_platform
from stack_config import load_stack_config

settings = load_stack_config()  # raises a readable ConfigError before any resource is registered
platform = build_platform(settings)

pulumi.export("kubeconfig", pulumi.Output.secret(platform.kubeconfig))
pulumi.export("clusterName", platform.cluster_name)
pulumi.export("clusterKind", platform.cluster_flavor)
pulumi.export("kubernetesVersion", platform.kubernetes_version)
pulumi.export("namespace", platform.namespace)
pulumi.export("serviceNames", platform.service_names)
for key, endpoint in platform.data_store_endpoints.items():  # redisEndpoint, postgresEndpoint, postgresReadEndpoints
    pulumi.export(key, endpoint)
