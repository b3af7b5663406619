"""Tests of the embedded W&B-compatible server."""
