"""A real HTTP provider simulator: OpenAI, Azure OpenAI, Anthropic, Gemini and Cohere wire formats
(JSON and SSE, usage blocks, error bodies, 429 with retry hints) with deterministic answers,
configurable latency and token counts, and fault injection through ``/_sim`` endpoints.

In-process: ``SimulatorServer(SimulatorConfig(...), port=0).start()``; standalone:
``python -m gateway.simulator --port 8090``.
"""

from gateway.simulator.app import create_app
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.engine import Simulator
from gateway.simulator.faults import FAULT_KINDS, FaultSpec
from gateway.simulator.server import SimulatorServer

__all__ = ["FAULT_KINDS", "FaultSpec", "Simulator", "SimulatorConfig", "SimulatorServer", "create_app"]
