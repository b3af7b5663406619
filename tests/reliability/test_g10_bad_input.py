"""G10 bad input: `file:line:col: message`, exit 1, no traceback, and not one request sent."""

from __future__ import annotations

import pytest

from tests.reliability.conftest import Stack

BOMB = "\n".join(
    ["entity: ml-platform", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
)
CASES: dict[str, tuple[bytes, str]] = {
    "syntax": (b"entity: ml-platform\nautomations: [\n", "bad.yaml:3:1: invalid YAML"),
    "duplicate-key": (
        b"entity: ml-platform\nentity: other\n",
        "bad.yaml:2:1: duplicate key 'entity'",
    ),
    "unsafe-tag": (
        b"entity: !!python/object/apply:os.system [id]\n",
        "bad.yaml:1:9: the tag !!python/object/apply:os.system is not allowed",
    ),
    "not-utf8": (b"entity: ml-\xff\xfe\n", "bad.yaml:1:12: not valid UTF-8"),
    "bomb": (BOMB.encode(), "bad.yaml:1:1: aliases expand"),
    "huge": (b"entity: ml-platform\n" + b"k: " + b"y" * (9 * 1024 * 1024) + b"\n", "bad.yaml:1:1:"),
    "schema": (
        b"entity: ml-platform\nwebhooks:\n  - name: x\n    url: https://x.example.com\n"
        b"    colour: red\n",
        "bad.yaml:5:5:",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_a_malformed_file_is_refused_before_any_request(
    stack: Stack, case: str, command: tuple[str, ...]
) -> None:
    content, message = CASES[case]
    (stack.work / "automations/bad.yaml").write_bytes(content)
    result = stack.invoke(*command)
    assert result.exit_code == 1, result.output
    assert f"automations/{message}" in result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert stack.proxy.requests == []


@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_in_a_process_no_traceback_and_no_request(stack: Stack, command: tuple[str, ...]) -> None:
    (stack.work / "automations/bad.yaml").write_bytes(CASES["syntax"][0])
    done = stack.run(*command)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("automations/bad.yaml:3:1: invalid YAML")
    assert "Traceback" not in done.stderr
    assert stack.proxy.requests == []
