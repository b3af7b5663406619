"""The GraphQL API: the request service, the executor, the resolvers, and what they check
first: request authentication and roles (`auth`), input validation (`validation`).
"""
