"""Offline evaluation of the program: mock harness, rendered manifests and the plan command."""
