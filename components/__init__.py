"""The platform's Pulumi components, one `ComponentResource` per concern, in layers (lowest first):

- `common/`: plain data and helpers every layer shares (labels, chart pins, webhook ports, traffic rules).
- `clusters/`: the cluster per flavor (kind, EKS, GKE), its node pools, node autoscaling and storage.
- `services/`: platform services on the cluster (mesh, TLS, KEDA, metrics-server, monitoring).
- `data/`: the state stores the API needs (managed on the clouds, in-cluster on kind).
- `workloads/`: the API and browser pools with their namespace, network policies and autoscalers.
- `platform_services.py`, `platform.py`: wire the layers together for one stack.

A module never imports from a layer above its own (tests/test_import_structure.py).
"""
