"""The server's command line: `reconcile serve` (with uvicorn's limits, `listen`) and the
`reconcile server ...` admin commands over `tasks`, which administer a database directly.
"""
