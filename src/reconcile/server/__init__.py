"""The embedded W&B-compatible server: GraphQL over SQLite, with API keys and roles.

`reconcile.server.app.create_app` builds the ASGI app; `reconcile.server.admin`
administers a database directly.
"""
