"""Memory of `reconcile serve` under a flood of unauthenticated 8 MiB event requests.

Run: `.venv/bin/python bench/bench_intake_flood.py [--connections 60] [--rounds 3]
[--src OTHER/src]`.

The server runs in its own process over an empty database. Each round opens
`--connections` connections at once; each sends `POST /api/v1/events` without a key,
declaring and then sending 8 MiB of body (as an attacker would), and reads what comes
back. The server's resident memory (VmRSS) is noted idle, after each round, and 2 s
after the last. `--src` runs the server from another source tree (an older commit
unpacked with `git archive`) for the side-by-side numbers in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_world import Served, rss_mib

BODY = 8 * 1024 * 1024
CHUNK = b"{" * (256 * 1024)


async def attack(port: int) -> str:
    """One unauthenticated request with 8 MiB of body; the answer's status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n"
    try:
        writer.write(head.encode())
        for _ in range(BODY // len(CHUNK)):
            writer.write(CHUNK)
            await writer.drain()
    except OSError:
        pass  # the server closed the connection: it would not read the rest
    try:
        line = await asyncio.wait_for(reader.readline(), 30)
    except (OSError, TimeoutError):
        line = b""
    writer.close()
    return line.decode(errors="replace").strip() or "closed without an answer"


async def flood(port: int, connections: int) -> collections.Counter[str]:
    answers = await asyncio.gather(*(attack(port) for _ in range(connections)))
    return collections.Counter(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, help="run the server from this source tree")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, Served(Path(tmp) / "server.db", args.src) as srv:
        time.sleep(1)
        pid = srv.process.pid
        print(f"idle: {rss_mib(pid):.0f} MiB")
        for round_number in range(1, args.rounds + 1):
            time.sleep(1)  # the last round's connections closed: 2 x 60 is over the cap
            began = time.monotonic()
            answers = asyncio.run(flood(srv.port, args.connections))
            took = time.monotonic() - began
            print(
                f"round {round_number}: {args.connections} x 8 MiB unauthenticated in "
                f"{took:.1f} s, answers {dict(answers)}; after: {rss_mib(pid):.0f} MiB"
            )
        time.sleep(2)
        print(f"2 s after the last round: {rss_mib(pid):.0f} MiB")


if __name__ == "__main__":
    main()
