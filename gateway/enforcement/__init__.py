"""Rate limits and budgets on the request path, shared by every gateway process through Redis."""

from gateway.enforcement.budget import BudgetGuard, Reservation
from gateway.enforcement.ratelimit import RateLimiter, RateVerdict

__all__ = ["BudgetGuard", "RateLimiter", "RateVerdict", "Reservation"]
