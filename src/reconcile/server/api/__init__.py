"""The GraphQL API: the ASGI app, the request service, the executor, the resolvers."""
