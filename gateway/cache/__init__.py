"""Response caches: exact (Redis, keyed by the normalised request) and semantic (pgvector)."""
