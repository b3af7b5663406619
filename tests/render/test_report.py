"""The end-of-apply table: one line per change, whatever the names and reasons hold."""

from __future__ import annotations

from reconcile.apply.executor import ApplyReport
from reconcile.core.model import ResourceKey
from reconcile.plan.compute import Change
from reconcile.render import report


def _change(name: str) -> Change:
    return Change("create", ResourceKey("automation", "ml-platform", name))


def test_names_and_reasons_cannot_forge_or_hide_a_line() -> None:
    done = ApplyReport(
        applied=[_change("ok <!-- `x`")],
        failed=[(_change("bad\napplied  create  automation ml-platform/forged"), "boom\x1b[2K")],
        not_attempted=[(_change("\u202eskipped"), "server said:\nall is well")],
    )
    assert report.render(done) == (
        "applied        create  automation ml-platform/ok <!-- `x`\n"
        "FAILED         create  automation ml-platform/"
        '"bad\\napplied  create  automation ml-platform/forged": boom\\u001b[2K\n'
        'not attempted  create  automation ml-platform/"\\u202eskipped": '
        "server said:\\nall is well\n"
        "\n1 applied, 1 failed, 1 not attempted.\n"
    )
