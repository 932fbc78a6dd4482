"""One Pulumi ComponentResource per concern: clusters, workloads, autoscaling, mesh, monitoring, security."""
