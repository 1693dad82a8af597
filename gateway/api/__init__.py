"""HTTP routes: the OneVault API, the OpenAI-compatible API, models, health and metrics."""
