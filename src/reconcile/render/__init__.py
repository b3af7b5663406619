"""Renderers: pure functions from values to text; they never touch the outside world."""
