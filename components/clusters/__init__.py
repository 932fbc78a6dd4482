"""The cluster per flavor (kind, EKS, GKE) behind one `ClusterHandle`, with node pools, node autoscaling and
the default storage class."""
