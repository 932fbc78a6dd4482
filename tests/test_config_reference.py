"""The config reference in README.md is generated from the models and must not go stale."""

from __future__ import annotations

from scripts import config_reference
from stack_config import PlatformConfig


def test_readme_config_reference_is_current() -> None:
    text = config_reference.README.read_text()
    assert config_reference.START in text and config_reference.END in text
    assert config_reference.readme_block(text) == config_reference.render(), (
        "README.md config reference is stale: run `python -m scripts.config_reference --write`")


def test_reference_lists_every_top_level_key_and_each_cluster_kind() -> None:
    rendered = config_reference.render()
    for name, field in PlatformConfig.model_fields.items():
        if name != "cluster":
            assert f"`browser-platform:{field.alias or name}`" in rendered
    for kind in ("kind", "eks", "gke"):
        assert f"#### `cluster` with `kind: {kind}`" in rendered
    for role in ("api", "browser", "worker"):
        assert f"#### `workloads.<name>` with `role: {role}`" in rendered
    assert "| `browser-platform:workloads.<name>.maxSessions` | integer or null | `null` |" in rendered
    assert "| `browser-platform:cluster.nodePools[].maxNodes` | integer | `3` | >= 1, <= 1000 |" in rendered
