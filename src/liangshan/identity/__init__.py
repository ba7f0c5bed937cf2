"""Identity and access: organisations, users, roles, region scopes, tokens, API keys, audit."""
