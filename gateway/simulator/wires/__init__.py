"""One module per simulated wire format; ``DIALECTS`` maps api_style to its dialect."""

from gateway.simulator.wires.anthropic import AnthropicDialect
from gateway.simulator.wires.base import Dialect, SimCall, WireError
from gateway.simulator.wires.cohere import CohereDialect
from gateway.simulator.wires.gemini import GeminiDialect
from gateway.simulator.wires.openai import AzureOpenAIDialect, OpenAIDialect

DIALECTS: dict[str, Dialect] = {
    d.api_style: d
    for d in (OpenAIDialect(), AzureOpenAIDialect(), AnthropicDialect(), GeminiDialect(), CohereDialect())
}

__all__ = ["DIALECTS", "Dialect", "SimCall", "WireError"]
