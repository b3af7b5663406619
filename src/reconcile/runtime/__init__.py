"""The automation runtime's shared core: events in, payloads rendered, requests signed and sent.

Pure parts (events, rendering, signing, schedule) and the one network part (sender)
are used alike by `reconcile render`, `reconcile webhook test` and the server's worker.
"""
