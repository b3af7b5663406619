"""`python -m reconcile`: the same entry point as the `reconcile` command."""

from __future__ import annotations

from reconcile.cli import main

if __name__ == "__main__":
    main()
