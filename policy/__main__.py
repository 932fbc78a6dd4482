"""Entry point the Pulumi CLI runs (`python -m pulumi.policy <engine> policy/`): build the pack, which serves.

The pack must run from this repository: the capacity policy imports the repo's `capacity` package (the same
model `python -m scripts.capacity_report` uses), so the repo root, the parent of this directory, goes on sys.path.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from browser_platform_policies import PACK_NAME, all_policies, server
from pulumi_policy import EnforcementLevel, PolicyPack

server.install()  # each resource deserialized once per request, not once per policy (server.py)
PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=all_policies(),
    description="Kubernetes, EKS/GKE and cross-resource rules for the browser-platform stacks.",
)
