"""Run mutmut's mutants of one module against chosen test files, in one process.

`mutmut run` starts the tests that reach a mutated function for every mutant; on two
shared cores that is about 10 mutants a minute. This runs each mutant against the test
files named, in this one warmed-up process (mutmut's trampolines read
`MUTANT_UNDER_TEST` on every call), stopping at the first failure, and appends one line
per mutant to a results file so that a stopped run resumes where it was:

    .venv/bin/python scripts/mutants.py generate
    .venv/bin/python scripts/mutants.py run reconcile.runtime.filters 'x__regex*' \\
        tests/runtime/test_filters.py
    .venv/bin/python scripts/mutants.py survivors reconcile.runtime.filters
    .venv/bin/python scripts/mutants.py run --again reconcile.runtime.filters 'x__regex*' \\
        tests/runtime/test_filters.py           # the survivors again, after new tests

A mutant the files kill is killed; one they leave might still die in a test not named.
A mutant that runs longer than `--timeout` seconds (by default five times the unchanged
code's run, at least 15 s) is stopped and counted as killed (`timeout`), as mutmut
counts it.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

MUTANTS = Path("mutants")
RESULTS = MUTANTS / "by-hand"
PYTEST = ["-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]


def generate() -> None:
    """Write `mutants/` as `mutmut run` does before it runs anything."""
    from mutmut import __main__ as mm

    mm.set_mutant_under_test("mutant_generation")
    MUTANTS.mkdir(exist_ok=True)
    mm.copy_src_dir()
    mm.copy_also_copy_files()
    mm.setup_source_paths()
    print(mm.create_mutants(os.cpu_count() or 2))


def names(module: str, pattern: str) -> list[str]:
    """The mutants of `module` whose function part matches `pattern`."""
    meta = MUTANTS / "src" / (module.replace(".", "/") + ".py.meta")
    if not meta.exists():
        raise SystemExit(f"{meta}: no mutants; run `generate` first")
    keys = json.loads(meta.read_text())["exit_code_by_key"]
    chosen = [k for k in keys if fnmatch.fnmatchcase(k[len(module) + 1 :], pattern)]
    if not chosen:
        raise SystemExit(f"no mutant of {module} matches {pattern!r}")
    return sorted(chosen, key=_order)


def _order(name: str) -> tuple[str, int]:
    function, _, number = name.rpartition("__mutmut_")
    return function, int(number)


def _done(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {parts[0]: parts[1] for parts in lines}


class _Timeout(BaseException):
    """Raised in the main thread when a mutant runs too long."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _verdict(name: str, tests: list[str], timeout: float) -> str:
    import pytest

    os.environ["MUTANT_UNDER_TEST"] = name
    output = io.StringIO()
    try:
        with _deadline(timeout), contextlib.redirect_stdout(output):
            code = pytest.main([*PYTEST, *tests])
    except _Timeout:
        return "timeout"
    except Exception:  # pytest itself failed (say, warnings as errors at its end): not a pass
        return "killed"
    return {0: "survived", 1: "killed"}.get(int(code), f"error{int(code)}")


def run(module: str, pattern: str, tests: list[str], timeout: float, again: bool) -> None:
    """Run every mutant not yet in the results file (with `again`, also each one that was
    not killed, say after new tests); the unchanged code must pass first."""
    path = os.environ.get("PYTHONPATH", "")
    if path.split(os.pathsep)[0] != str(MUTANTS / "src"):
        # The trampolines must shadow the installed package: start again with them first.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(MUTANTS / "src"), path])}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{module}.txt"
    started = time.monotonic()
    clean = _verdict("", tests, 600.0)
    if clean != "survived":
        unchanged = " ".join(tests)
        raise SystemExit(f"the tests do not pass on the code unchanged ({clean}): {unchanged}")
    timeout = timeout or max(15.0, 5 * (time.monotonic() - started))
    done = _done(out)
    rerun = {"survived", "error2", "error3", "error4", "error5"} if again else set()
    todo = [n for n in names(module, pattern) if n not in done or done[n] in rerun]
    print(f"{len(todo)} mutants to run ({len(done)} already in {out})", file=sys.stderr)
    for name in todo:
        started = time.monotonic()
        verdict = _verdict(name, tests, timeout)
        with out.open("a") as f:
            f.write(f"{name} {verdict} {time.monotonic() - started:.1f}\n")
    survivors(module, pattern)


def survivors(module: str, pattern: str) -> None:
    """Print the score of what ran, then each mutant no test killed, with its diff."""
    done = _done(RESULTS / f"{module}.txt")
    chosen = [n for n in names(module, pattern) if n in done]
    left = [n for n in chosen if done[n] != "killed" and done[n] != "timeout"]
    killed = len(chosen) - len(left)
    print(f"{module} {pattern}: {len(chosen)} run, {killed} killed, {len(left)} not")
    for name in left:
        print(f"== {name} ({done[name]})")
        show = [sys.executable, "-m", "mutmut", "show", name]
        shown = subprocess.run(show, check=False, capture_output=True, text=True)
        print("\n".join(line for line in shown.stdout.splitlines()[1:] if line[:1] in "+-@"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write mutants/ (mutmut's trampolines)")
    for command in ("run", "survivors"):
        sub = commands.add_parser(command)
        sub.add_argument("module", help="dotted module, e.g. reconcile.runtime.filters")
        sub.add_argument("pattern", nargs="?" if command == "survivors" else None, default="*")
        if command == "run":
            sub.add_argument("tests", nargs="+", help="test files or node ids")
            sub.add_argument("--timeout", type=float, default=0.0, help="seconds per mutant")
            sub.add_argument("--again", action="store_true", help="run the survivors again")
    args = parser.parse_args()
    if args.command == "generate":
        generate()
    elif args.command == "run":
        run(args.module, args.pattern, args.tests, args.timeout, args.again)
    else:
        survivors(args.module, args.pattern)


if __name__ == "__main__":
    main()
