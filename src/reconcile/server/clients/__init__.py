"""What real W&B clients call besides the automation API: runs (GraphQL), file_stream,
uploads; each write's events go through the events API's own path."""
