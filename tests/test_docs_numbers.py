"""Numbers and lists in the docs that drifted once: each now comes from a command or a file a reader can check."""

from __future__ import annotations

import re

import yaml

from offline.harness import REPO_ROOT, evaluate_stack

BENCH_START, BENCH_END = "<!-- bench-policy:start -->", "<!-- bench-policy:end -->"


def test_addons_doc_lists_every_secret_a_stack_expects() -> None:
    expected = yaml.safe_load((REPO_ROOT / "offline" / "stack-secrets.yaml").read_text())
    table = (REPO_ROOT / "docs" / "addons.md").read_text().split("## Secrets a stack needs", 1)[1]
    listed = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE))
    # An entry is a key, or `{key: stand-in file}` for a secret with a shape (offline/harness.py).
    keys = {key for entries in expected.values() for entry in entries
            for key in ([entry] if isinstance(entry, str) else entry)}
    assert keys <= listed


def test_operations_doc_quota_formula_counts_draining_browser_pods() -> None:
    text = (REPO_ROOT / "docs" / "operations.md").read_text()
    assert "maxReplicas + 1 rolling-update surge pod" in text and "still draining" in text
    assert "make plan STACK=<stack> SHOW=ResourceQuota/platform-quota" in text
    # The formula as documented, checked against the program: dev's api (max 3) and browser (max 2, draining).
    quota = next(r for r in evaluate_stack("dev").resources if r.type == "kubernetes:core/v1:ResourceQuota"
                 and r.inputs["metadata"]["name"] == "platform-quota")
    assert quota.inputs["spec"]["hard"]["pods"] == str((3 + 1) + (2 + 1 + 2))


def test_policy_benchmark_table_is_the_script_output() -> None:
    from scripts.bench_policy import synthetic

    text = (REPO_ROOT / "policy" / "README.md").read_text()
    block = text.split(BENCH_START, 1)[1].split(BENCH_END, 1)[0]
    assert "python scripts/bench_policy.py --markdown" in block
    rows = [line.split("|")[1:3] for line in block.splitlines() if line.startswith("| ") and " s |" in line]
    counts = {label.strip(): int(count.strip().replace(",", "")) for label, count in rows}
    dev = evaluate_stack("dev").resources
    assert counts == {"stack prod": len(evaluate_stack("prod").resources),
                      "synthetic 100 workloads": len(synthetic(dev, 100)),
                      "synthetic 1000 workloads": len(synthetic(dev, 1000))}
