"""The embedded W&B-compatible server: GraphQL over SQLite, with API keys and roles.

`api/` answers GraphQL (`reconcile.server.api.app.create_app` builds the ASGI app),
`store/` keeps the rows in SQLite, `runtime/` takes events and delivers webhooks;
`reconcile.server.admin` administers a database directly.
"""
