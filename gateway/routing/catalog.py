"""The platform's provider catalog: where each provider is and which models it serves.

Loaded from ``providers.json`` (``ONEVAULT_HOME/providers.json`` by default); ``onevault up``
writes one pointing every provider at the built-in simulator. Real deployments list the real
base URLs; secrets come from environment variables named in the file (``api_key_env``), never
from the file itself unless it is a simulator placeholder.

A route's ``models`` may end in ``"*"``: it then also serves other models of its family. Which
ones is the planner's question (gateway/pipeline/planning.py ``known``): a model the price catalog
knows, or any name at all where the route says ``"accept_any_model": true`` (a self-hosted
server whose models are the operator's own). Otherwise every random name a client sends would
become a model the gateway records and counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from gateway.providers.base import ProviderEndpoint
from gateway.providers.capabilities import Gap, check, parse_overrides
from gateway.providers.types import ChatRequest
from gateway.routing.quality import default_quality

_FAMILIES = (
    (("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "dall-e"), ("openai", "azure_openai")),
    (("claude",), ("anthropic",)),
    (("gemini", "imagen"), ("gemini",)),
    (("command", "c4ai"), ("cohere",)),
)


@dataclass(frozen=True, slots=True)
class ProviderRoute:
    name: str
    endpoint: ProviderEndpoint
    models: tuple[str, ...]
    hipaa_eligible: bool = False
    # The operator's quality scores (providers.json "quality"), else gateway.routing.quality's.
    quality_scores: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    # The operator's feature overrides (providers.json "capabilities"; gateway/providers/capabilities.py).
    capabilities: dict[str, frozenset[str]] = field(default_factory=dict, hash=False, compare=False)
    # providers.json "accept_any_model": a wildcard serves any name, priced or not (else known ones).
    accept_any_model: bool = False

    def gap(self, model: str, request: ChatRequest) -> Gap:
        """What this route cannot honour of ``request`` on ``model``."""
        return check(self.api_style, model, request, self.capabilities)

    def quality(self, model: str) -> int:
        """0–100: the operator's score for this model here, else the documented default."""
        score = self.quality_scores.get(model)
        return score if score is not None else default_quality(model)

    @property
    def api_style(self) -> str:
        return self.endpoint.api_style

    def lists(self, model: str) -> bool:
        """Whether ``model`` needs no further check here: listed by name, or any name accepted."""
        return self.accept_any_model or model in self.models

    def serves(self, model: str) -> bool:
        if model in self.models:
            return True
        if "*" not in self.models:
            return False
        return any(
            model.startswith(prefixes) and self.api_style in styles for prefixes, styles in _FAMILIES
        ) or (self.api_style == "openai_compatible")


class CatalogError(ValueError):
    pass


def _capabilities(p: dict) -> dict[str, frozenset[str]]:
    try:
        return parse_overrides(p.get("capabilities"))
    except ValueError as exc:
        raise CatalogError(f"provider {p.get('name')!r}: {exc}") from exc


class ProviderCatalog:
    def __init__(self, routes: list[ProviderRoute], default_model: str) -> None:
        self.routes = {r.name: r for r in routes}
        self.default_model = default_model

    @classmethod
    def from_file(cls, path: Path) -> ProviderCatalog:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise CatalogError(f"no provider catalog at {path}; `onevault up` writes one") from exc
        routes = []
        for p in doc.get("providers", []):
            key = os.environ.get(p["api_key_env"], "") if "api_key_env" in p else p.get("api_key", "")
            endpoint = ProviderEndpoint(
                api_style=p["api_style"],
                base_url=p["base_url"],
                api_key=key,
                timeout_s=float(p.get("timeout_s", 60)),
                api_version=p.get("api_version"),
                deployments=p.get("deployments", {}),
            )
            routes.append(
                ProviderRoute(
                    p["name"],
                    endpoint,
                    tuple(p.get("models", ["*"])),
                    bool(p.get("hipaa_eligible", False)),
                    {str(m): int(q) for m, q in p.get("quality", {}).items()},
                    _capabilities(p),
                    bool(p.get("accept_any_model", False)),
                )
            )
        return cls(routes, doc.get("default_model", "gpt-4o-mini"))

    def named(self, model: str | None, provider: str | None) -> tuple[str | None, str]:
        """(provider, model) as the request names them: ``provider/model`` names the provider too."""
        model = model or self.default_model
        if provider is None and "/" in model and model.split("/", 1)[0] in self.routes:
            provider, model = model.split("/", 1)
        return provider, model

    def candidates(self, model: str | None, provider: str | None) -> list[tuple[ProviderRoute, str]]:
        """Routes able to serve the request, preferred first (explicit models before wildcards)."""
        provider, model = self.named(model, provider)
        if provider is not None:
            route = self.routes.get(provider)
            return [(route, model)] if route is not None and route.serves(model) else []
        exact = [(r, model) for r in self.routes.values() if model in r.models]
        wild = [(r, model) for r in self.routes.values() if model not in r.models and r.serves(model)]
        return exact + wild

    def models(self) -> list[tuple[ProviderRoute, str]]:
        return [(r, m) for r in self.routes.values() for m in r.models if m != "*"]
