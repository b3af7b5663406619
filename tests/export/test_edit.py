"""Adding and removing one item of an inventory file's list leaves every other byte."""

from __future__ import annotations

import pytest

from reconcile.core.errors import UsageError
from reconcile.export.edit import insert, remove

FILE = """\
# mine: keep this
entity: e
automations:
  - name: a           # first
    description: |
      two

      paragraphs
  # a note between items
  - name: b
    enabled: false

webhooks:
  - name: h
    url: https://h.example/x
"""


def test_an_item_is_appended_to_an_existing_list_at_its_indentation() -> None:
    added = insert(FILE, "automations", {"name": "c", "then": {"no_op": None}}, "f.yaml")
    assert added == FILE.replace(
        "    enabled: false\n",
        "    enabled: false\n  - name: c\n    then:\n      no_op: null\n",
    )
    assert remove(added, "automations", "c", "f.yaml") == FILE


def test_an_item_is_removed_with_its_lines_only() -> None:
    assert remove(FILE, "automations", "a", "f.yaml") == FILE.replace(
        "  - name: a           # first\n    description: |\n      two\n\n      paragraphs\n", ""
    )
    # The only item takes its list's key with it.
    assert remove(FILE, "webhooks", "h", "f.yaml") == FILE.split("webhooks:", maxsplit=1)[0]


def test_a_missing_list_is_added_at_the_end() -> None:
    assert insert("entity: e", "secrets", {"name": "S", "from_env": "S"}, "f.yaml") == (
        "entity: e\nsecrets:\n- name: S\n  from_env: S\n"
    )


def test_what_cannot_be_edited_line_by_line_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^f.yaml: `automations` is not a list of items"):
        insert("entity: e\nautomations: []\n", "automations", {"name": "x"}, "f.yaml")
    with pytest.raises(UsageError, match=r"^f.yaml: no item named 'x' under `automations`$"):
        remove(FILE, "automations", "x", "f.yaml")
