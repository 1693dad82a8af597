"""The request pipeline: plan, call upstream with retries and failover, cost, record."""

from gateway.pipeline.context import CallContext, Candidates, Outcome, StreamSummary
from gateway.pipeline.service import CompletionService

__all__ = ["CallContext", "Candidates", "CompletionService", "Outcome", "StreamSummary"]
