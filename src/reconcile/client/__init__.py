"""The GraphQL client: W&B's operations over httpx, for W&B and the embedded server alike."""
