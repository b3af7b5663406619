"""Generate a large, valid inventory for benchmarks: N files of M automations each."""

from __future__ import annotations

from pathlib import Path

ENTITY = "bench-team"
EVENTS = [
    "alias_added:\n        alias: ^production$",
    "artifact_linked:\n        alias: ^staging$",
    "run_metric:\n        metric: val_accuracy\n        aggregate: average\n        window: 5\n"
    "        above: 0.95",
    "run_metric_change:\n        metric: val_loss\n        direction: increase\n"
    "        change: relative\n        amount: 0.2",
    "run_state:\n        states: [failed]\n        run_name:\n          matches: ^train-",
    "tag_added:\n        tag: gold",
]
ARTIFACT_PAYLOAD = (
    "        payload:\n          event: ${event_type}\n"
    "          version: ${artifact_version_string}\n"
    "          author: ${event_author}\n          labels: [bench, generated]\n"
)
RUN_PAYLOAD = (
    "        payload:\n          event: ${event_type}\n          run: ${run_name}\n"
    "          project: ${project_name}\n          labels: [bench, generated]\n"
)


def automation(file_index: int, index: int) -> str:
    kind = EVENTS[index % len(EVENTS)]
    artifact = not kind.startswith("run_")
    scope = "registry: model" if artifact else "project: bench"
    payload = ARTIFACT_PAYLOAD if artifact else RUN_PAYLOAD
    return (
        f"  - name: automation-{file_index:03d}-{index:04d}\n"
        f"    description: Generated automation {index} of file {file_index}\n"
        f"    scope:\n      {scope}\n"
        f"    when:\n      {kind}\n"
        f"    then:\n      webhook:\n        to: hook-{file_index % 100:03d}\n{payload}"
    )


def file_text(file_index: int, per_file: int, with_webhook: bool) -> str:
    parts = [f"entity: {ENTITY}\n"]
    if with_webhook:
        parts.append(
            f"secrets:\n  - name: SECRET_{file_index:03d}\n"
            f"webhooks:\n  - name: hook-{file_index:03d}\n"
            f"    url: https://hooks.example.com/{file_index}\n"
            f"    secret: SECRET_{file_index:03d}\n"
        )
    parts.append("automations:\n")
    parts.extend(automation(file_index, i) for i in range(per_file))
    return "".join(parts)


def write_inventory(root: Path, files: int = 100, per_file: int = 100) -> list[Path]:
    """Write the inventory under `root`; every file declares one of the 100 webhooks."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_index in range(files):
        path = root / f"team-{file_index:03d}.yaml"
        path.write_text(file_text(file_index, per_file, with_webhook=file_index < 100))
        paths.append(path)
    return paths
