"""Finding files, reading them safely, and positions for findings."""

from __future__ import annotations

import pytest

from reconcile.core.errors import InvalidInventory, UsageError
from reconcile.inventory.load import load_inventory
from reconcile.inventory.loader import MAX_FILE_BYTES, Finding, Positions, discover, load_files
from tests.conftest import WriteFiles


def test_discover_is_recursive_sorted_and_skips_hidden(write_files: WriteFiles) -> None:
    root = write_files(
        {
            "b.yaml": "",
            "a/c.yml": "",
            "a/notes.txt": "",
            ".hidden/x.yaml": "",
            ".dot.yaml": "",
        }
    )
    assert [p.relative_to(root).as_posix() for p in discover([str(root)])] == ["a/c.yml", "b.yaml"]


def test_discover_accepts_files_and_refuses_missing_paths(write_files: WriteFiles) -> None:
    root = write_files({"a.yaml": ""})
    assert discover([str(root / "a.yaml"), str(root)]) == [root / "a.yaml"]
    with pytest.raises(UsageError, match="nope: no such file or directory"):
        discover(["nope"])


def test_empty_and_comment_only_files_are_valid(write_files: WriteFiles) -> None:
    write_files({"a.yaml": "", "b.yaml": "# nothing yet\n"})
    assert load_inventory(["automations"]).automations == ()


def test_a_byte_order_mark_is_accepted(write_files: WriteFiles) -> None:
    write_files({"a.yaml": b"\xef\xbb\xbfentity: ml\n"})
    documents, issues = load_files(discover(["automations"]))
    assert issues == []
    assert documents[0].data == {"entity": "ml"}


def test_huge_files_are_refused_before_parsing(write_files: WriteFiles) -> None:
    write_files({"big.yaml": b"# " + b"x" * MAX_FILE_BYTES + b"\n"})
    with pytest.raises(InvalidInventory) as raised:
        load_inventory(["automations"])
    [issue] = raised.value.issues
    assert str(issue) == (
        f"automations/big.yaml:1:1: file is {MAX_FILE_BYTES + 3:,} bytes; "
        f"the limit is {MAX_FILE_BYTES:,}"
    )


def test_unreadable_file_is_an_issue_not_a_crash(write_files: WriteFiles) -> None:
    root = write_files({"a.yaml": "entity: ml\n"})
    (root / "dangling.yaml").symlink_to(root / "gone.yaml")
    with pytest.raises(InvalidInventory) as raised:
        load_inventory(["automations"])
    [issue] = raised.value.issues
    assert str(issue) == "automations/dangling.yaml: cannot read: No such file or directory"


def test_problems_in_several_files_are_all_reported(write_files: WriteFiles) -> None:
    write_files({"a.yaml": "entity: [\n", "b.yaml": "entity: ML\n", "c.yaml": "x: 1\n"})
    with pytest.raises(InvalidInventory) as raised:
        load_inventory(["automations"])
    paths = [issue.location.path for issue in raised.value.issues]
    assert paths == ["automations/a.yaml", "automations/b.yaml", "automations/c.yaml"]


def test_positions_point_at_keys_or_values(write_files: WriteFiles) -> None:
    write_files({"a.yaml": "entity: ml\nautomations:\n  - name: x\n    enabled: maybe\n"})
    documents, _ = load_files(discover(["automations"]))
    positions = Positions(documents)
    pointer = ("automations", 0, "enabled")
    value = positions.issue(Finding("automations/a.yaml", pointer, "m"))
    key = positions.issue(Finding("automations/a.yaml", pointer, "m", at_key=True))
    assert (value.location.line, value.location.col) == (4, 14)
    assert (key.location.line, key.location.col) == (4, 5)


def test_positions_follow_merge_keys(write_files: WriteFiles) -> None:
    text = "defaults: &d\n  enabled: maybe\nautomations:\n  - <<: *d\n    name: x\n"
    write_files({"a.yaml": text})
    documents, _ = load_files(discover(["automations"]))
    issue = Positions(documents).issue(
        Finding("automations/a.yaml", ("automations", 0, "enabled"), "m")
    )
    assert (issue.location.line, issue.location.col) == (2, 12)


def _aliased(aliases: int, plain: int) -> str:
    """A document of 7 + `plain` distinct nodes that `aliases` aliases of a scalar expand."""
    lines = ["s: &s x", f"b: [{', '.join(['*s'] * aliases)}]"]
    lines += [f"c: [{', '.join(['y'] * plain)}]"] if plain else ["c: []"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("aliases", "plain", "refused"),
    [
        # 1,107 distinct nodes: the 10x limit (11,070) is above the 10,000 floor.
        (11_070 - 1_107, 1_100, None),
        (11_071 - 1_107, 1_100, "aliases expand 1,107 nodes to 11,071"),
        # 7 distinct nodes: the 10,000 floor is what holds.
        (10_000 - 7, 0, None),
        (10_001 - 7, 0, "aliases expand 7 nodes to 10,001"),
    ],
)
def test_the_alias_expansion_limit_is_exactly_where_it_says(
    write_files: WriteFiles, aliases: int, plain: int, refused: str | None
) -> None:
    """Just over the limit is refused, just under is read: both its factor and its floor."""
    write_files({"a.yaml": _aliased(aliases, plain)})
    documents, issues = load_files(discover(["automations"]))
    if refused is None:
        assert issues == []
        [document] = documents
        assert len(document.data["b"]) == aliases
        return
    assert documents == []
    assert [str(issue) for issue in issues] == [
        f"automations/a.yaml:1:1: {refused}; refusing a document that aliases grow more than 10x"
    ]
