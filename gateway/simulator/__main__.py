"""``python -m gateway.simulator [--host 127.0.0.1] [--port 8090] [--latency-ms 0] ...``"""

from __future__ import annotations

import argparse

import uvicorn

from gateway.simulator.app import create_app
from gateway.simulator.config import SimulatorConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gateway.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer")
    parser.add_argument("--stream-chunk-delay-ms", type=float, default=0.0, help="delay between chunks")
    parser.add_argument("--output-tokens", type=int, default=64, help="visible output tokens per answer")
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    parser.add_argument("--cached-fraction", type=float, default=0.0, help="share of input reported cached")
    parser.add_argument("--timeout-fault-s", type=float, default=30.0, help="stall of the 'timeout' fault")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = SimulatorConfig(
        latency_ms=args.latency_ms,
        stream_chunk_delay_ms=args.stream_chunk_delay_ms,
        output_tokens=args.output_tokens,
        tokens_per_chunk=args.tokens_per_chunk,
        cached_fraction=args.cached_fraction,
        timeout_fault_s=args.timeout_fault_s,
        seed=args.seed,
    )
    uvicorn.run(
        create_app(config=config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
