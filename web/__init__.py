"""Web pages served by the arena on the same port as the API."""
