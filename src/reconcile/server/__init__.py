"""The embedded W&B-compatible server: GraphQL over SQLite, with API keys and roles.

`app` assembles the ASGI app (`create_app`) from its rooms: `api/` answers GraphQL
(with request authentication and input validation), `store/` keeps the rows in SQLite,
`runtime/` takes events and delivers webhooks, `admin/` is `reconcile serve` and the
admin commands. `errors` is the failure tree they all answer with.
"""
