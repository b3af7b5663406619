"""Stage 3, apply: the main job as library calls (`session`: read, plan, apply a reviewed
plan), the executor that owns apply policy, the per-entity lock, and the server to talk
to (`target`: a W&B URL, or the embedded server in-process).
"""
