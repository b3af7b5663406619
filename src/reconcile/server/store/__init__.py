"""SQLite storage: the connection and migrations, rows as functions, encryption at rest."""
