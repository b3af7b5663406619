"""Reliability promises G1-G11 of the reconciler, shown against a real server."""
