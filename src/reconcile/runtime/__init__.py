"""The automation runtime's shared core: events in, payloads rendered, requests signed and sent.

Pure parts (events, payload templates and variables, rendering, filters, signing,
schedule) and the one network part (sender) are used alike by `reconcile render`,
`reconcile webhook test` and the server's worker; the inventory's checks use its
templates and variables, so validate and delivery agree. It imports only `core`.
"""
