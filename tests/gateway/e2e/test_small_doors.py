"""The smaller doors with the official ``openai`` SDK (current major): ``models.list()`` /
``models.retrieve()`` filtered by the key's ``allowed_models``; legacy ``completions.create``
plain and streamed through an OpenAI and an Anthropic model; ``images.generate`` through OpenAI
(billed by tokens), DALL-E and Imagen (billed per image), with real PNGs; ``embeddings.create``
with token arrays — each checked in the vault (endpoint, request type, model, tokens, cost)."""

from __future__ import annotations

import base64
import struct
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import openai
import orjson
import pytest
from openai import AsyncOpenAI

from gateway.admin.keys import create_gateway_key
from gateway.pricing import PriceCatalog, TokenUsage, compute_cost
from tests.gateway.e2e.conftest import Gateway, wait_for_rows

CHAT_MODELS = ["gpt-4o-mini", "claude-3-5-sonnet-latest"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MARKUP = Decimal("1.2")  # the gateway's default 20% markup

ROW_SQL = """
select d.endpoint, d.request_type, d.stream, d.status, d.input_tokens, d.output_tokens,
       m.provider_bk, m.model_bk,
       c.provider_cost, c.customer_cost, c.is_priced, c.price_source, c.output_tokens as cost_output_tokens
from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk)
join raw_vault.lnk_api_request_context x using (api_request_hk)
join raw_vault.hub_model m using (model_hk)
left join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
left join raw_vault.sat_cost_event_details c using (cost_event_hk)
where h.api_request_bk = $1
"""


def sdk(gw: Gateway, key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0)


async def vault_row(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    sql = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{request_id}'"
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    return await pool.fetchrow(ROW_SQL, request_id)


def last_sent(gw: Gateway) -> dict[str, Any]:
    return gw.sim.simulator.stats.snapshot()["recent"][-1]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR (after checking it is one)."""
    assert data.startswith(PNG_MAGIC) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# -- GET /v1/models ---------------------------------------------------------------------------------
async def test_models_list_and_retrieve(gateway: Gateway) -> None:
    client = sdk(gateway)
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert {"gpt-4o-mini", "claude-3-5-sonnet-latest", "gemini-1.5-flash", "command-r-plus"} <= set(ids)
    assert len(ids) == len(set(ids)), "a model served by several providers is listed once"
    owners = {m.id: m.owned_by for m in page.data}
    assert owners["gpt-4o-mini"] == "openai" and owners["claude-3-5-sonnet-latest"] == "anthropic"
    assert all(m.object == "model" and m.created > 0 for m in page.data)

    one = await client.models.retrieve("claude-3-5-sonnet-latest")
    assert (one.id, one.owned_by, one.object) == ("claude-3-5-sonnet-latest", "anthropic", "model")
    pinned = await client.models.retrieve("azure_openai/gpt-4o-mini")
    assert (pinned.id, pinned.owned_by) == ("azure_openai/gpt-4o-mini", "azure_openai")
    with pytest.raises(openai.NotFoundError) as missing:
        await client.models.retrieve("no-such-model")
    assert missing.value.body["code"] == "model_not_found" and missing.value.body["param"] == "model"

    async with httpx.AsyncClient(base_url=gateway.url) as http:  # the priced detail stays
        detail = (await http.get("/v1/ai/models", headers={"authorization": f"Bearer {gateway.key}"})).json()
    assert "openai/gpt-4o-mini" in {m["id"] for m in detail["data"]}


async def test_models_follow_allowed_models(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    issued = await create_gateway_key(
        vault_pool, "acme", changed_by="t", allowed_models=("claude-3-5-sonnet-latest", "gpt-image-1")
    )
    client = sdk(gateway, issued.key)
    listed = {m.id: m.owned_by for m in (await client.models.list()).data}
    # gpt-image-1 is served only by the OpenAI route's wildcard: listed all the same.
    assert listed == {"claude-3-5-sonnet-latest": "anthropic", "gpt-image-1": "openai"}
    assert (await client.models.retrieve("gpt-image-1")).owned_by == "openai"
    for other in ("gpt-4o-mini", "openai/gpt-4o-mini"):
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve(other)
    with pytest.raises(openai.PermissionDeniedError):  # and the listing matches what is served
        await client.completions.create(model="gpt-4o-mini", prompt="hi")


# -- POST /v1/completions ---------------------------------------------------------------------------
@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_legacy_completion(gateway: Gateway, vault_pool: asyncpg.Pool, model: str) -> None:
    raw = await sdk(gateway).completions.with_raw_response.create(
        model=model, prompt="Say hello to the legacy API", max_tokens=40, stop=["\n\n"], user="u-1"
    )
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    choice = completion.choices[0]
    assert choice.text and choice.finish_reason in ("stop", "length") and choice.index == 0
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    sent = last_sent(gateway)  # the chat pipeline: the prompt as the user turn of a chat call
    assert sent["path"] == ("/v1/messages" if model.startswith("claude") else "/v1/chat/completions")
    assert "Say hello to the legacy API" in orjson.dumps(sent["body"]["messages"]).decode()
    row = await vault_row(vault_pool, raw.headers["x-request-id"])
    assert (row["endpoint"], row["model_bk"], row["stream"]) == ("/v1/completions", model, False)
    assert (row["input_tokens"], row["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert row["is_priced"] and row["provider_cost"] > 0
    assert row["customer_cost"] == pytest.approx(row["provider_cost"] * MARKUP, abs=Decimal("1e-11"))
    assert row["customer_cost"] == Decimal(raw.headers["x-onevault-customer-cost"])


@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_legacy_completion_streamed(gateway: Gateway, vault_pool: asyncpg.Pool, model: str) -> None:
    stream = await sdk(gateway).completions.create(
        model=model,
        prompt="Stream a few words",
        max_tokens=30,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "text_completion" for c in chunks)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text and finishes in (["stop"], ["length"])
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices and usage.completion_tokens > 0
    request_id = chunks[0].id.removeprefix("cmpl-")
    row = await vault_row(vault_pool, request_id)
    assert (row["endpoint"], row["model_bk"], row["stream"]) == ("/v1/completions", model, True)
    assert (row["input_tokens"], row["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert row["is_priced"] and row["provider_cost"] > 0


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": "x", "suffix": "tail"}, "suffix"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": [[1, 2], [3]]}, "prompt"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"prompt": "x", "echo": True}, "echo"),
        ({"prompt": "x", "logprobs": 2}, "logprobs"),
        ({"prompt": "x", "n": 2}, "n"),
        ({"prompt": "x", "best_of": 3}, "best_of"),
    ],
)
async def test_legacy_completion_refuses_what_chat_models_cannot_do(
    gateway: Gateway, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk(gateway).completions.create(model="gpt-4o-mini", **fields)
    assert refused.value.body["param"] == param


# -- POST /v1/images/generations --------------------------------------------------------------------
async def test_images_billed_by_tokens(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    raw = await sdk(gateway).images.with_raw_response.generate(
        model="gpt-image-1", prompt="a red fox in the snow", n=2, size="1024x1024", quality="low"
    )
    images = raw.parse()
    assert len(images.data) == 2 and images.size == "1024x1024" and images.quality == "low"
    pictures = [base64.b64decode(item.b64_json) for item in images.data]
    assert all(png_size(p) == (16, 16) for p in pictures) and pictures[0] != pictures[1]
    assert "response_format" not in last_sent(gateway)["body"]  # GPT image models reject it
    assert images.usage.output_tokens == 2 * 272  # low quality, square: 272 tokens an image
    row = await vault_row(vault_pool, raw.headers["x-request-id"])
    assert (row["endpoint"], row["request_type"], row["model_bk"]) == (
        "/v1/images/generations",
        "image",
        "gpt-image-1",
    )
    assert row["output_tokens"] == 2 * 272
    price = PriceCatalog().lookup("openai", "gpt-image-1", datetime.now(timezone.utc))
    expected = compute_cost(price, TokenUsage(images.usage.input_tokens, 2 * 272), Decimal(20))
    assert row["is_priced"] and row["provider_cost"] == expected.provider_cost > 0
    assert row["customer_cost"] == expected.customer_cost
    assert row["price_source"].startswith("genai-prices")


async def test_images_priced_per_image(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    client = sdk(gateway)
    raw = await client.images.with_raw_response.generate(
        model="dall-e-3", prompt="a lighthouse", size="1792x1024", quality="hd", response_format="url"
    )
    (item,) = raw.parse().data
    head, _, data = item.url.partition(",")
    assert head == "data:image/png;base64" and png_size(base64.b64decode(data)) == (16, 16)
    assert item.revised_prompt == "a lighthouse"
    assert last_sent(gateway)["body"]["response_format"] == "b64_json"  # asked upstream for the bytes
    row = await vault_row(vault_pool, raw.headers["x-request-id"])
    assert (row["request_type"], row["provider_bk"], row["model_bk"]) == ("image", "openai", "dall-e-3")
    assert row["is_priced"] and row["provider_cost"] == Decimal("0.12")  # hd, 1792x1024
    assert row["customer_cost"] == Decimal("0.144")
    assert row["price_source"].startswith("image:") and "1 x 1792x1024/hd at 0.12 USD" in row["price_source"]

    raw = await client.images.with_raw_response.generate(
        model="imagen-4.0-generate-001", prompt="a lighthouse", n=2, size="1792x1024"
    )
    assert [png_size(base64.b64decode(i.b64_json)) for i in raw.parse().data] == [(16, 16)] * 2
    sent = last_sent(gateway)
    assert sent["path"].endswith("imagen-4.0-generate-001:predict")
    assert sent["body"]["parameters"] == {"sampleCount": 2, "aspectRatio": "16:9"}
    row = await vault_row(vault_pool, raw.headers["x-request-id"])
    assert (row["request_type"], row["provider_bk"]) == ("image", "gemini")
    assert row["provider_cost"] == Decimal("0.08") and "2 x" in row["price_source"]


async def test_max_cost_is_checked_per_image(gateway: Gateway) -> None:
    client = sdk(gateway)
    hd = {"model": "dall-e-3", "prompt": "a lighthouse", "quality": "hd", "size": "1024x1024"}  # 0.096 USD
    with pytest.raises(openai.APIStatusError) as refused:
        await client.images.generate(**hd, extra_headers={"x-onevault-max-cost": "0.09"})
    assert refused.value.status_code == 402 and refused.value.body["code"] == "max_cost_exceeded"
    answer = await client.images.generate(**hd, extra_headers={"x-onevault-max-cost": "0.1"})
    assert answer.model_extra["onevault"]["cost"]["customer_cost"] == "0.096000000000"
    assert answer.model_extra["onevault"]["images"] == 1


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "claude-3-5-sonnet-latest"}, "model"),  # Anthropic has no image API
        ({"model": "imagen-4.0-generate-001", "quality": "high"}, "quality"),
        ({"model": "imagen-4.0-generate-001", "size": "1536x1024"}, "size"),  # 3:2 is no Imagen ratio
        ({"model": "gpt-image-1", "style": "vivid"}, "style"),  # never silently dropped
    ],
)
async def test_images_refused_before_any_call(gateway: Gateway, fields: dict[str, Any], param: str) -> None:
    before = gateway.sim.simulator.stats.snapshot()["total"]
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk(gateway).images.generate(prompt="a cat", **fields)
    assert refused.value.body["param"] == param
    assert gateway.sim.simulator.stats.snapshot()["total"] == before


# -- POST /v1/embeddings with token arrays ----------------------------------------------------------
async def test_embeddings_take_token_arrays(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    client = sdk(gateway)
    raw = await client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=[[9906, 1917, 0], [15339, 1070]]
    )
    answer = raw.parse()
    assert [d.index for d in answer.data] == [0, 1] and answer.usage.prompt_tokens == 5
    assert all(len(d.embedding) == 256 for d in answer.data)
    assert last_sent(gateway)["body"]["input"] == [[9906, 1917, 0], [15339, 1070]]  # forwarded as ids
    row = await vault_row(vault_pool, raw.headers["x-request-id"])
    assert (row["endpoint"], row["request_type"], row["input_tokens"]) == ("/v1/embeddings", "embedding", 5)
    assert row["is_priced"] and row["provider_cost"] > 0

    one = await client.embeddings.create(model="text-embedding-3-small", input=[9906, 1917])
    assert len(one.data) == 1 and one.usage.prompt_tokens == 2
    assert last_sent(gateway)["body"]["input"] == [[9906, 1917]]  # one array: a list of one
    text = await client.embeddings.create(model="text-embedding-3-small", input="still text")
    assert len(text.data) == 1

    before = gateway.sim.simulator.stats.snapshot()["total"]
    for model in ("gemini-embedding-001", "gemini/gemini-embedding-001"):  # Gemini takes text only
        with pytest.raises(openai.BadRequestError) as refused:
            await client.embeddings.create(model=model, input=[[1, 2, 3]])
        assert refused.value.body["param"] == "input"
    assert gateway.sim.simulator.stats.snapshot()["total"] == before
