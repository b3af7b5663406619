"""The shared vocabulary: the model, the events catalogue, the wire translation, errors.

Every stage may import it; it imports nothing else of ours. Also what may be shown:
`safe` for terminals and markdown, `logsafe` for log lines.
"""
