"""First boot and local secrets: secrets created once under a race, ``onevault up`` stopped by any
signal, the admin-token floor, private PostgreSQL/Redis endpoints
(docs/security/first-boot-and-local-secrets.md)."""
