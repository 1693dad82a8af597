"""Request bodies. Unknown fields are refused (a typo must not silently change behaviour)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.fields import PRINTABLE, TAG_KEY
from gateway.api.openai_chat import MessageIn

_Tag = Annotated[str, Field(max_length=256, pattern=PRINTABLE)]


class CacheOption(BaseModel):
    """A request's own cache choice (gateway/pipeline/data_stages.py): mode and/or TTL."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["off", "exact", "semantic"] | None = None
    ttl: int | None = Field(None, ge=1, le=30 * 86400)


class CompletionBody(BaseModel):
    """``POST /v1/ai/completions`` (seed 003's shape, plus chargeback tags)."""

    model_config = ConfigDict(extra="forbid")
    prompt: str | None = Field(None, max_length=2_000_000)
    messages: list[MessageIn] | None = Field(None, min_length=1, max_length=2048)
    type: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    priority: Literal["low", "standard", "high"] = "standard"
    max_cost: Decimal | None = Field(None, gt=0, max_digits=24, decimal_places=12, allow_inf_nan=False)
    model: str | None = Field(None, min_length=1, max_length=200)
    provider: str | None = Field(None, min_length=1, max_length=100)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    stream: bool = False
    user: str | None = Field(None, min_length=1, max_length=256, pattern=PRINTABLE)
    tags: dict[Annotated[str, Field(max_length=64, pattern=TAG_KEY)], _Tag] = Field(
        default_factory=dict, max_length=32
    )
    cache: CacheOption | None = None

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> CompletionBody:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        return self
