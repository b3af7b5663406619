"""The shipped examples are valid and cover every event and action kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.core.events import EVENTS
from reconcile.core.model import Inventory
from reconcile.inventory.load import load_inventory
from tests.conftest import WriteFiles

EXAMPLES = Path(__file__).resolve().parents[2] / "automations" / "examples"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory([str(EXAMPLES)])


def test_every_event_kind_has_an_example(inventory: Inventory) -> None:
    shown = {auto.event.kind for auto in inventory.automations}
    missing = set(EVENTS) - shown
    assert not missing, f"no example for {sorted(missing)}"


def test_every_action_kind_has_an_example(inventory: Inventory) -> None:
    assert {auto.action.kind for auto in inventory.automations} == {"webhook", "slack", "no_op"}


def test_every_scope_kind_has_an_example(inventory: Inventory) -> None:
    kinds = {
        "team"
        if a.scope.team
        else ("collection" if a.scope.collection else "")
        + ("registry" if a.scope.registry else "project")
        for a in inventory.automations
    }
    assert kinds == {"project", "registry", "collectionproject", "collectionregistry", "team"}


def test_every_example_points_editors_at_the_schema() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        first = path.read_text("utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../schema/inventory.schema.json", path
        assert (path.parent / "../../schema/inventory.schema.json").resolve().is_file()


def test_the_readme_example_is_valid(write_files: WriteFiles) -> None:
    readme = (EXAMPLES.parents[1] / "README.md").read_text("utf-8")
    blocks = [part.split("```", 1)[0] for part in readme.split("```yaml\n")[1:]]
    # The first inventory (the project file's example, reconcile.yaml, comes before it).
    block = next(b for b in blocks if b.startswith("# yaml-language-server: $schema="))
    write_files({"readme.yaml": block})
    inventory = load_inventory(["automations"])
    assert [a.name for a in inventory.automations] == ["deploy-fraud-detector-to-production"]
