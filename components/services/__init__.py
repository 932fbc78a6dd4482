"""Platform services installed on the cluster: mesh, TLS, DNS-01 identities, KEDA, metrics-server and
monitoring."""
