"""Receiving uploads: the used marks of concurrent uploads share one transaction, and a
URL is still marked used exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from reconcile.server.clients import receiving, uploads
from reconcile.server.store.db import Database
from tests.server.clients.test_uploads import _urls
from tests.server.helpers import World


def test_marks_queued_behind_a_commit_share_the_next_one(world: World, db_path: Path) -> None:
    urls = _urls(world, *(f"f{n}" for n in range(6)))
    ids = [int(url.split("/")[-1].split("?")[0]) for url in urls.values()]
    db = Database(db_path)
    commits: list[str] = []
    db._con.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    marks = receiving.UsedMarks(db)
    results: dict[int, list[bool]] = {}
    wanted = [*ids, ids[0]]  # the first URL twice: only one of its uploads may win

    def mark(index: int, file_id: int) -> None:
        results[index] = [marks.mark(file_id, index)]

    threads = [threading.Thread(target=mark, args=pair) for pair in enumerate(wanted)]
    with marks._committing:  # as if a commit were under way
        for thread in threads:
            thread.start()
        for _ in range(2000):  # until every upload waits for its mark
            if len(marks._queued) == len(wanted):
                break
            time.sleep(0.005)
    for thread in threads:
        thread.join()
    db.close()
    assert commits == ["COMMIT"]
    assert [results[index] for index in range(1, 6)] == [[True]] * 5
    assert sorted([results[0], results[6]]) == [[False], [True]]
    with world.db.read() as con:
        assert all(uploads.stored(con, file_id) for file_id in ids)
