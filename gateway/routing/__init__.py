"""Which provider and model serve a request: the catalog of routes, the customer's routing rules,
the strategies that order candidates, and the performance figures they read."""
