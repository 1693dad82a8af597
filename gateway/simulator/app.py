"""The simulator's ASGI app: every provider's endpoints at one port, plus ``/_sim`` controls.

Provider endpoints::

    POST /v1/chat/completions                                   openai (and openai_compatible)
    POST /openai/deployments/{deployment}/chat/completions      azure_openai (?api-version= required)
    POST /v1/messages                                           anthropic
    POST /v1/messages/count_tokens                              anthropic token count
    POST /v1beta/models/{model}:generateContent                 gemini
    POST /v1beta/models/{model}:streamGenerateContent?alt=sse   gemini, streamed
    POST /v2/chat                                               cohere
    POST /v1/embeddings, /openai/deployments/{d}/embeddings,
         /v1beta/models/{model}:embedContent|:batchEmbedContents, /v2/embed   embeddings
    POST /v1/images/generations, /openai/deployments/{d}/images/generations,
         /v1beta/models/{model}:predict                         images (small real PNGs)

Control endpoints (so a gateway in another process can be driven from a test)::

    POST   /_sim/faults        {"kind", "match": {"model", "api_style"}, "count", "retry_after", "latency_ms"}
    GET    /_sim/faults        active faults
    DELETE /_sim/faults        clear all;  DELETE /_sim/faults/{id}: clear one
    GET    /_sim/stats         {"total", "by_api_style", "by_model", "recent": [last 100 requests]}
    GET    /_sim/config        PATCH /_sim/config with any SimulatorConfig fields
    POST   /_sim/reset         clear faults and stats, restore the starting config
    GET    /_sim/health

The providers' own bills (gateway/simulator/billing.py)::

    GET /v1/organization/costs, /v1/organization/usage/completions           OpenAI (admin)
    GET /v1/organizations/cost_report, /v1/organizations/usage_report/messages  Anthropic (admin)
    GET /_sim/billing/exports/azure.csv | gcp.csv   billing exports (?start=&end= YYYY-MM-DD)
    GET|PATCH|DELETE /_sim/billing, POST /_sim/billing/extra   the ledger and its knobs
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.simulator.billing import anthropic_report, azure_export_csv, gcp_export_csv, openai_report
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.embeddings import handle_embedding
from gateway.simulator.engine import INVALID_KEY, SECRET_HEADERS, Simulator
from gateway.simulator.faults import FaultSpec
from gateway.simulator.images import handle_image
from gateway.simulator.wires import DIALECTS
from gateway.simulator.wires.base import STATUS_MESSAGES, Dialect, WireError


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _invalid(message: str, details: Any = None) -> Response:
    error: dict[str, Any] = {"code": "invalid_request", "message": message}
    if details is not None:
        error["details"] = details
    return _json({"error": error}, 422)


def create_app(simulator: Simulator | None = None, config: SimulatorConfig | None = None) -> Starlette:
    """The ASGI app; ``app.state.simulator`` holds the state the control endpoints change."""
    sim = simulator or Simulator(config)

    def provider(dialect: Dialect) -> Any:
        async def endpoint(request: Request) -> Response:
            return await sim.handle(dialect, request)

        return endpoint

    async def read_json(request: Request) -> Any:
        try:
            return orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            return None

    async def add_fault(request: Request) -> Response:
        try:
            spec = FaultSpec.model_validate(await read_json(request))
        except ValidationError as exc:
            return _invalid("invalid fault", orjson.loads(exc.json(include_url=False)))
        return _json({"fault": sim.faults.add(spec).as_dict()}, 201)

    async def list_faults(request: Request) -> Response:
        return _json({"faults": sim.faults.active()})

    async def clear_faults(request: Request) -> Response:
        return _json({"cleared": sim.faults.clear()})

    async def clear_fault(request: Request) -> Response:
        removed = sim.faults.remove(request.path_params["fault_id"])
        return _json({"cleared": int(removed)}, 200 if removed else 404)

    async def stats(request: Request) -> Response:
        return _json(sim.stats.snapshot())

    async def get_config(request: Request) -> Response:
        return _json(sim.config.model_dump())

    async def patch_config(request: Request) -> Response:
        changes = await read_json(request)
        if not isinstance(changes, dict):
            return _invalid("config changes must be a JSON object")
        try:
            return _json(sim.configure(**changes).model_dump())
        except ValidationError as exc:
            return _invalid("invalid config", orjson.loads(exc.json(include_url=False)))

    async def reset(request: Request) -> Response:
        sim.reset()
        return _json({"reset": True})

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    def embeddings(api_style: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await handle_embedding(sim, api_style, request)

        return endpoint

    async def count_tokens(request: Request) -> Response:
        """Anthropic's token count: authenticated, checked and recorded like a message."""
        dialect = DIALECTS["anthropic"]
        key = dialect.api_key(request)
        if not key or key == INVALID_KEY:
            return sim.error(dialect, 401, STATUS_MESSAGES[401])
        body = await read_json(request)
        try:
            dialect.check_headers(request)
            counted = dialect.count_tokens(body, request)  # type: ignore[attr-defined]
        except WireError as exc:
            return sim.error(dialect, exc.status, exc.message)
        headers = {k: ("***" if k in SECRET_HEADERS else v) for k, v in request.headers.items()}
        entry = {"path": request.url.path, "stream": False, "headers": headers, "body": body, "fault": None}
        sim.stats.record(dialect.api_style, str(body.get("model")), entry)
        entry["status"] = 200
        return _json(counted)

    def images(api_style: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await handle_image(sim, api_style, request)

        return endpoint

    def report_auth(request: Request, dialect: Dialect) -> Response | None:
        key = dialect.api_key(request)
        return sim.error(dialect, 401, STATUS_MESSAGES[401]) if not key or key == INVALID_KEY else None

    def many(request: Request, name: str) -> list[str]:
        q = request.query_params
        return [*q.getlist(name), *q.getlist(f"{name}[]")]

    def int_param(request: Request, name: str) -> int | None:
        value = request.query_params.get(name)
        return int(value) if value else None

    def openai_usage(kind: str) -> Any:
        async def endpoint(request: Request) -> Response:
            refused = report_auth(request, DIALECTS["openai"])
            if refused is not None:
                return refused
            start = int_param(request, "start_time")
            if start is None:
                return sim.error(DIALECTS["openai"], 400, "start_time is required")
            q = request.query_params
            body = openai_report(
                sim.billing, kind, start, int_param(request, "end_time"), many(request, "group_by"),
                int_param(request, "limit"), q.get("page"),
            )  # fmt: skip
            return _json(body)

        return endpoint

    def anthropic_usage(kind: str) -> Any:
        async def endpoint(request: Request) -> Response:
            refused = report_auth(request, DIALECTS["anthropic"])
            if refused is not None:
                return refused
            q = request.query_params
            if not q.get("starting_at"):
                return sim.error(DIALECTS["anthropic"], 400, "starting_at is required")
            body = anthropic_report(
                sim.billing, kind, q["starting_at"], q.get("ending_at"), many(request, "group_by"),
                int_param(request, "limit"), q.get("page"),
            )  # fmt: skip
            return _json(body)

        return endpoint

    def export(kind: str) -> Any:
        async def endpoint(request: Request) -> Response:
            q = request.query_params
            start = date.fromisoformat(q["start"]) if q.get("start") else date(1970, 1, 1)
            end = date.fromisoformat(q["end"]) if q.get("end") else date(9999, 1, 1)
            text = (azure_export_csv if kind == "azure" else gcp_export_csv)(sim.billing, start, end)
            return Response(text, media_type="text/csv")

        return endpoint

    async def billing_get(request: Request) -> Response:
        return _json(sim.billing.snapshot())

    async def billing_patch(request: Request) -> Response:
        changes = await read_json(request)
        if not isinstance(changes, dict) or set(changes) - {"price_factor"}:
            return _invalid('billing knobs: {"price_factor": {"<model>|*": "<factor>"}}')
        try:
            return _json(sim.billing.configure(changes.get("price_factor")))
        except (ArithmeticError, ValueError) as exc:
            return _invalid(f"invalid price factor: {exc}")

    async def billing_extra(request: Request) -> Response:
        extra = await read_json(request)
        if not isinstance(extra, dict) or not extra.get("api_style") or not extra.get("model"):
            return _invalid("extra usage needs api_style and model")
        day = date.fromisoformat(extra["day"]) if extra.get("day") else None
        sim.billing.record(
            str(extra["api_style"]),
            str(extra["model"]),
            extra.get("api_key"),
            int(extra.get("input_tokens", 0)),
            int(extra.get("cached_tokens", 0)),
            int(extra.get("output_tokens", 0)),
            requests=int(extra.get("requests", 1)),
            at=datetime.combine(day, time(12), tzinfo=UTC) if day else None,
        )
        return _json(sim.billing.snapshot(), 201)

    async def billing_clear(request: Request) -> Response:
        sim.billing.reset()
        return _json({"cleared": True})

    gemini_chat, gemini_embed = provider(DIALECTS["gemini"]), embeddings("gemini")
    gemini_images = images("gemini")

    async def gemini(request: Request) -> Response:
        """One path for every Gemini method: ``models/{model}:{method}``."""
        if request.path_params["target"].endswith((":embedContent", ":batchEmbedContents")):
            return await gemini_embed(request)
        if request.path_params["target"].endswith(":predict"):
            return await gemini_images(request)
        return await gemini_chat(request)

    routes = [
        Route("/v1/chat/completions", provider(DIALECTS["openai"]), methods=["POST"]),
        Route(
            "/openai/deployments/{deployment}/chat/completions",
            provider(DIALECTS["azure_openai"]),
            methods=["POST"],
        ),
        Route("/v1/messages", provider(DIALECTS["anthropic"]), methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1beta/models/{target}", gemini, methods=["POST"]),
        Route("/v1/models/{target}", gemini, methods=["POST"]),
        Route("/v2/chat", provider(DIALECTS["cohere"]), methods=["POST"]),
        Route("/v1/embeddings", embeddings("openai"), methods=["POST"]),
        Route("/openai/deployments/{deployment}/embeddings", embeddings("azure_openai"), methods=["POST"]),
        Route("/v2/embed", embeddings("cohere"), methods=["POST"]),
        Route("/v1/images/generations", images("openai"), methods=["POST"]),
        Route(
            "/openai/deployments/{deployment}/images/generations", images("azure_openai"), methods=["POST"]
        ),
        Route("/v1/organization/costs", openai_usage("costs"), methods=["GET"]),
        Route("/v1/organization/usage/completions", openai_usage("completions"), methods=["GET"]),
        Route("/v1/organizations/cost_report", anthropic_usage("cost"), methods=["GET"]),
        Route("/v1/organizations/usage_report/messages", anthropic_usage("usage"), methods=["GET"]),
        Route("/_sim/billing/exports/azure.csv", export("azure"), methods=["GET"]),
        Route("/_sim/billing/exports/gcp.csv", export("gcp"), methods=["GET"]),
        Route("/_sim/billing", billing_get, methods=["GET"]),
        Route("/_sim/billing", billing_patch, methods=["PATCH"]),
        Route("/_sim/billing", billing_clear, methods=["DELETE"]),
        Route("/_sim/billing/extra", billing_extra, methods=["POST"]),
        Route("/_sim/faults", add_fault, methods=["POST"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
        Route("/_sim/faults/{fault_id:int}", clear_fault, methods=["DELETE"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/config", get_config, methods=["GET"]),
        Route("/_sim/config", patch_config, methods=["PATCH"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.simulator = sim
    return app
