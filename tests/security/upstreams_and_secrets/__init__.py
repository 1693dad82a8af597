"""Egress of customer URLs, upstream answers, tenant-visible errors, allowed models, KEK rotation."""
