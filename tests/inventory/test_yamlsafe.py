"""The strict YAML dialect: YAML 1.2 scalars, string keys, JSON types only."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.inventory.loader import parse_text
from reconcile.inventory.yamlsafe import RecursiveAlias, expanded_size
from tests.conftest import WriteFiles


def load(text: str) -> object:
    return parse_text(text, "f.yaml").data


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "y", "n", "On", "NO"])
def test_yaml11_booleans_stay_strings_as_keys_and_values(word: str) -> None:
    assert load(f"{word}: {word}\n") == {word: word}


def test_a_tag_named_no_is_a_string() -> None:
    assert load("when:\n  tag_added: {tag: no}\n") == {"when": {"tag_added": {"tag": "no"}}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("12", 12),
        ("-7", -7),
        ("0777", 777),
        ("0o17", 15),
        ("0x1f", 31),
        ("1.5e3", 1500.0),
        ("0.95", 0.95),
        ("2024-01-01", "2024-01-01"),
        ("1:30", "1:30"),
        (".inf", ".inf"),
        (".nan", ".nan"),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
    ],
)
def test_scalars_follow_yaml_12_core(text: str, value: object) -> None:
    assert load(f"v: {text}\n") == {"v": value}


def test_keys_are_always_strings() -> None:
    assert load("1: a\ntrue: b\nnull: c\n") == {"1": "a", "true": "b", "null": "c"}


def test_merge_keys_work_and_own_keys_override() -> None:
    data = load("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 5\n")
    assert data == {"base": {"x": 1, "y": 2}, "m": {"x": 5, "y": 2}}


def test_quoted_values_keep_their_text() -> None:
    assert load("a: 'true'\nb: \"12\"\nc: !!str 3\n") == {"a": "true", "b": "12", "c": "3"}


def test_expanded_size_counts_aliases_once_per_use() -> None:
    from yaml import compose

    from reconcile.inventory.yamlsafe import StrictLoader

    node = compose("a: &x [1, 2]\nb: [*x, *x]\n", Loader=StrictLoader)
    # root + 2 keys + x(3 nodes) + b seq(1 + 2 * 3)
    assert expanded_size(node) == 1 + 2 + 3 + 7


def test_expanded_size_refuses_cycles() -> None:
    from yaml import compose

    from reconcile.inventory.yamlsafe import StrictLoader

    node = compose("a: &x [*x]\n", Loader=StrictLoader)
    with pytest.raises(RecursiveAlias):
        expanded_size(node)


def test_a_list_item_without_its_dash_is_one_problem_that_says_so(
    write_files: WriteFiles,
) -> None:
    write_files(
        {
            "a.yaml": """
            entity: ml
            automations:
              - name: one
                scope: {project: p}
                when: {run_state: {states: [failed]}}
                then: {no_op: }
                name: two
                scope: {project: p}
                when: {run_state: {states: [failed]}}
                then: {no_op: }
            """
        }
    )
    result = CliRunner().invoke(cli, ["validate"])
    assert (result.exit_code, result.output.splitlines()) == (
        1,
        [
            "automations/a.yaml:7:5: duplicate key 'name' (first at line 3), and 'scope', "
            "'when', 'then' after it: if a new list item starts at line 7, begin it with '- '",
            "1 problem found",
        ],
    )


def test_values_are_built_nested_with_aliases() -> None:
    text = (
        "a: [1, -2, 0x1f, 1.5, .5, -1e3, true, False, null, ~, '', x]\n"
        "b: {c: {d: [{e: f}, [g, [h]]]}, 'q': \"r\"}\n"
        "anchored: &n {k: [1, 2]}\nused: *n\nlist: [*n, *n]\n"
    )
    data = load(text)
    assert data == {
        "a": [1, -2, 31, 1.5, 0.5, -1000.0, True, False, None, None, "", "x"],
        "b": {"c": {"d": [{"e": "f"}, ["g", ["h"]]]}, "q": "r"},
        "anchored": {"k": [1, 2]},
        "used": {"k": [1, 2]},
        "list": [{"k": [1, 2]}, {"k": [1, 2]}],
    }
    assert data["used"] == {"k": [1, 2]}
    assert data["used"] is not data["anchored"]  # an alias is built again where used


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!binary aGk=\n", "the tag !!binary is not allowed"),
        ("a: !!str {b: 1}\n", "the tag !!str is not allowed"),
        ("a: !!set {b: null}\n", "the tag !!set is not allowed"),
        ("a: !!omap [{b: 1}]\n", "the tag !!omap is not allowed"),
        ("a: !!int x1\n", "'x1' is not a valid int"),
        ("? [1]\n: a\n", "a key must be a plain string"),
    ],
)
def test_what_the_direct_build_refuses(text: str, message: str) -> None:
    from reconcile.inventory.loader import _FileProblem

    with pytest.raises(_FileProblem) as raised:
        load(text)
    assert message in str(raised.value)
