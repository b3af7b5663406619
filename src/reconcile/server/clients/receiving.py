"""Storing an upload's body once its URL checked out: the body gathered into pieces of
about 1 MiB, written off the event loop to a fresh 0600 file, and the URL marked used
with the marks of concurrent uploads in one transaction (one commit, one fsync).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from reconcile.server.clients import uploads
from reconcile.server.store.db import Database

PIECE = 1024 * 1024  # bytes gathered before a write: one thread hop per MiB, not per chunk
# The uploads' own threads: at most this many uploads write or wait for their mark at once.
_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="reconcile-uploads")
T = TypeVar("T")


async def off_loop(work: Callable[..., T], *args: object) -> T:
    """`work(*args)` in an uploads' thread. asyncio's executor hand-off: anyio's
    (`run_in_threadpool`) cost the event loop about 0.3 ms per upload (limiter, run
    vars, cancel scope), a sixth of the loop's time while the SDK uploaded."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, work, *args)


class Target:
    """The partial file of one upload, opened on its first write (in a worker thread)."""

    def __init__(self, folder: Path, file_id: int) -> None:
        self.folder, self.file_id = folder, file_id
        self._fd: int | None = None
        self._partial: Path | None = None

    def write(self, chunks: list[bytes]) -> None:
        if self._fd is None:
            self._fd, self._partial = uploads.open_target(self.folder, self.file_id)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:  # os.write may write less than asked
                view = view[os.write(self._fd, view) :]

    def close(self) -> Path:
        """The complete partial file (created empty for an empty body)."""
        if self._fd is None:
            self.write([])
        assert self._fd is not None
        assert self._partial is not None
        os.close(self._fd)
        self._fd = None
        return self._partial

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)


class _Mark:
    """One upload waiting for its used mark (mutable: the committing thread fills it in)."""

    __slots__ = ("error", "file_id", "first", "size")

    def __init__(self, file_id: int, size: int) -> None:
        self.file_id, self.size = file_id, size
        self.first: bool | None = None
        self.error: BaseException | None = None


class UsedMarks:
    """Marks upload URLs used. A thread that finds no commit under way commits every
    mark queued so far in one write transaction; the others wait for it (group commit:
    concurrent uploads share one fsync instead of queueing for one each)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue_lock = threading.Lock()
        self._committing = threading.Lock()
        self._queued: list[_Mark] = []

    def mark(self, file_id: int, size: int) -> bool:
        """Mark the URL used (durably, when this returns); False when another upload
        to it was marked first."""
        mark = _Mark(file_id, size)
        with self._queue_lock:
            self._queued.append(mark)
        with self._committing:
            if mark.first is None and mark.error is None:  # no earlier batch took it
                with self._queue_lock:
                    batch, self._queued = self._queued, []
                self._commit(batch)
        if mark.error is not None:
            raise mark.error
        assert mark.first is not None
        return mark.first

    def _commit(self, batch: list[_Mark]) -> None:
        try:
            with self._db.write() as con:
                firsts = [uploads.finish(con, m.file_id, m.size) for m in batch]
        except BaseException as error:  # every upload of the batch fails as its own would
            for m in batch:
                m.error = error
            return
        for m, first in zip(batch, firsts, strict=True):
            m.first = first


def keep(target: Target, rest: list[bytes], marks: UsedMarks, size: int) -> bool:
    """Write the body's last piece, mark the URL used, then move the file into place;
    False (and nothing kept) when the URL was used meanwhile. The mark comes first:
    renaming first could replace the file of an upload that won the race."""
    try:
        target.write(rest)
        partial = target.close()
        first = marks.mark(target.file_id, size)
    except BaseException:
        target.discard()
        raise
    if not first:
        partial.unlink(missing_ok=True)
        return False
    partial.replace(target.folder / str(target.file_id))
    return True
