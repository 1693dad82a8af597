"""Egress control for customer-supplied URLs (own-key base URLs, budget webhooks): see policy.py."""

from gateway.egress.policy import EgressPolicy, EgressRefused, is_public

__all__ = ["EgressPolicy", "EgressRefused", "is_public"]
