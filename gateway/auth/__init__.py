"""Gateway API keys: issued once, stored as a hash, resolved to a principal on every request."""
