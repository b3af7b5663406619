"""reconcile: webhook automations as code for Weights & Biases."""

from __future__ import annotations

__version__ = "0.1.0"
