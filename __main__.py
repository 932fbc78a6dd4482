"""browser-platform: one `pulumi up` per stack builds the cluster and everything on it."""

import gc

import pulumi

# The Kubernetes and cloud SDKs import as some 300,000 objects that live as long as the process; at the
# default thresholds the cyclic collector walks them over and over, a quarter of a preview's CPU time
# (scripts/bench_evaluate.py). The program's own garbage is freed by reference counting.
gc.set_threshold(100_000, 50, 100)

from components.platform import build_platform  # noqa: E402 - after the collector is tuned
from stack_config import load_stack_config  # noqa: E402

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
