"""Azure OpenAI: OpenAI's wire at a per-deployment URL with an ``api-key`` header.

``POST {base}/openai/deployments/{deployment}/chat/completions?api-version=...`` (and
``.../embeddings`` for embeddings, ``.../images/generations`` for images). The request's
model picks the deployment through ``endpoint.deployments`` (default: a deployment named like
the model); the body carries no ``model`` since the deployment decides it. Streams may open with
a ``choices: []`` event holding prompt-filter results, which the OpenAI decoder skips.

Everything else — content parts, tools and tool history, ``developer`` turns, structured output,
reasoning effort and the other options — is OpenAI's wire unchanged (Azure serves the same
models behind the same request and response schema), so this class overrides only the URL and
the auth header.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from gateway.providers.base import DEFAULT_AZURE_API_VERSION, ProviderEndpoint
from gateway.providers.openai import OpenAIAdapter
from gateway.providers.types import ChatRequest, EmbeddingRequest, ImageRequest


class AzureOpenAIAdapter(OpenAIAdapter):
    api_style: ClassVar[str] = "azure_openai"
    send_model: ClassVar[bool] = False

    def url(self, endpoint: ProviderEndpoint, request: ChatRequest) -> str:
        base = endpoint.base_url.removesuffix("/openai")
        deployment = quote(endpoint.deployments.get(request.model, request.model), safe="")
        version = quote(endpoint.api_version or DEFAULT_AZURE_API_VERSION, safe="")
        return f"{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"

    def embeddings_url(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> str:
        base = endpoint.base_url.removesuffix("/openai")
        deployment = quote(endpoint.deployments.get(request.model, request.model), safe="")
        version = quote(endpoint.api_version or DEFAULT_AZURE_API_VERSION, safe="")
        return f"{base}/openai/deployments/{deployment}/embeddings?api-version={version}"

    def images_url(self, endpoint: ProviderEndpoint, request: ImageRequest) -> str:
        base = endpoint.base_url.removesuffix("/openai")
        deployment = quote(endpoint.deployments.get(request.model, request.model), safe="")
        version = quote(endpoint.api_version or DEFAULT_AZURE_API_VERSION, safe="")
        return f"{base}/openai/deployments/{deployment}/images/generations?api-version={version}"

    def auth_headers(self, endpoint: ProviderEndpoint) -> dict[str, str]:
        return {"api-key": endpoint.api_key}
