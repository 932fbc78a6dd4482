"""The CrossGuard policy pack (run by the Pulumi CLI as a directory; see policy/README.md)."""
