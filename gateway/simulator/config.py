"""How the simulator behaves when no fault is injected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SimulatorConfig(BaseModel):
    """Latency, token counts and prompt caching of every simulated answer.

    Changeable at runtime through ``PATCH /_sim/config`` (``POST /_sim/reset`` restores the
    values the server started with).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: float = Field(0.0, ge=0, description="Delay before every answer or stream.")
    stream_chunk_delay_ms: float = Field(0.0, ge=0, description="Delay between streamed chunks.")
    output_tokens: int = Field(64, ge=1, description="Visible output tokens when max_tokens allows.")
    tokens_per_chunk: int = Field(1, ge=1, description="Output tokens per streamed delta.")
    cached_fraction: float = Field(0.0, ge=0, le=1, description="Share of input tokens reported as cached.")
    reasoning_ratio: float = Field(
        0.5, ge=0, description="Hidden reasoning tokens per visible token, for reasoning models."
    )
    timeout_fault_s: float = Field(30.0, ge=0, description="How long the 'timeout' fault stalls.")
    seed: int = Field(0, description="Varies the filler words of the generated text.")
    embedding_dims: int = Field(
        256, ge=1, le=4096, description="Vector length of embeddings when the request names none."
    )
