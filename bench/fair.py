"""What every benchmark shares: cold runs of a command in a fresh process, sides
interleaved round by round (the order alternating), min / median / max, the load."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# A cold CSafeLoader parse of every YAML file under the folder given, as a command: the
# baseline of the commands that parse an inventory, started the way they are.
BARE_PARSE = (
    "import pathlib, sys, yaml\n"
    "for path in sorted(pathlib.Path(sys.argv[1]).rglob('*.yaml')):\n"
    "    yaml.load(path.read_text('utf-8'), Loader=yaml.CSafeLoader)\n"
)


@dataclass(frozen=True)
class Cold:
    """One run of a command in a fresh process: wall time, CPU and peak memory."""

    seconds: float
    cpu: float
    max_rss_mb: float
    returncode: int


def cold(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Cold:
    """Run `argv` in a fresh process from `cwd`; its wall time from start to exit."""
    began = time.perf_counter()
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stderr is not None:
        process.stderr.close()
    return Cold(
        seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode
    )


def bare_parse_argv(folder: str) -> list[str]:
    return [sys.executable, "-c", BARE_PARSE, folder]


def interleaved(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each side once per round, the order reversed every other round."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            times[name].append(sides[name]())
    return times


def spread(values: Sequence[float], scale: float = 1.0, unit: str = "s") -> str:
    """min / median / max of `values` (times `scale`), e.g. `1.234 / 1.300 / 1.410 s`."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low * scale:.3f} / {mid * scale:.3f} / {high * scale:.3f} {unit}"


def ratios(top: Sequence[float], bottom: Sequence[float]) -> list[float]:
    """The ratio of each round (sides measured in the same round)."""
    return [a / b for a, b in zip(top, bottom, strict=True)]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_now() -> float:
    """CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
