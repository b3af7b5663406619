"""Finding `${variables}` in payload string values."""

from __future__ import annotations

from reconcile.runtime.templating import MAX_DEPTH, TemplateProblem, Use, scan


def test_variables_are_found_in_nested_string_values_only() -> None:
    payload = {"a": "${x} and ${ y }", "b": [{"c": "${artifact_metadata.framework}"}], "n": 1}
    uses, problems = scan(payload)
    assert problems == []
    assert uses == [
        Use(("a",), "x"),
        Use(("a",), "y"),
        Use(("b", 0, "c"), "artifact_metadata.framework"),
    ]


def test_dollar_signs_without_braces_are_plain_text() -> None:
    assert scan({"price": "$5", "shell": "$HOME"}) == ([], [])


def test_malformed_variables_are_problems() -> None:
    _, problems = scan({"a": "${}", "b": "${not closed", "c": "${two words}"})
    assert sorted(problems, key=str) == sorted(
        [
            TemplateProblem(("a",), "'${}' is not a variable name"),
            TemplateProblem(("b",), "'${' without a closing '}'"),
            TemplateProblem(("c",), "'${two words}' is not a variable name"),
        ],
        key=str,
    )


def test_variables_in_keys_are_refused() -> None:
    _, problems = scan({"${alias}": "x"})
    assert problems == [
        TemplateProblem(
            ("${alias}",),
            "key '${alias}': variables are substituted in values only, not in keys",
            at_key=True,
        )
    ]


def test_depth_is_bounded_without_recursion() -> None:
    deep: object = "leaf"
    for _ in range(5000):
        deep = [deep]
    _, problems = scan({"a": deep})
    assert len(problems) == 1
    assert problems[0].message == f"nests deeper than {MAX_DEPTH} levels"


def test_the_depth_limit_is_exactly_where_it_says_and_names_where() -> None:
    def nested(levels: int) -> object:
        deep: object = "${alias}"
        for _ in range(levels):
            deep = [deep]
        return deep

    uses, problems = scan(nested(MAX_DEPTH))  # the string at depth 32: allowed
    assert (uses, problems) == ([Use((0,) * MAX_DEPTH, "alias")], [])
    uses, problems = scan(nested(MAX_DEPTH + 1))
    assert uses == []
    assert problems == [
        TemplateProblem((0,) * (MAX_DEPTH + 1), f"nests deeper than {MAX_DEPTH} levels")
    ]
