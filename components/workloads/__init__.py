"""The workloads in their namespace: Deployments, Services, quotas, network policies and pod autoscalers."""
