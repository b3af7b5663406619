"""The server side of the automation runtime: events in, matching, the outbox, delivery."""
