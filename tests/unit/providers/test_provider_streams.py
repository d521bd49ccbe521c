"""Each vendor adapter's `stream()`, through its real SDK, against the fake's streamed answers."""

from __future__ import annotations

import logging

import pytest

from schemas.messages import ChatMessage
from shared.providers.base import Completion, ProviderError, RetryableProviderError
from tests.fakes.vendor_server import TOKENS_IN, TOKENS_OUT, Reply
from tests.unit.providers.conftest import VENDOR_MODEL, VENDORS

MESSAGES = [ChatMessage(role="user", content="Tell me about the sea.")]
PIECES = ["The sea", " is", " wide", " and", " deep."]


async def collect(provider) -> tuple[list[str], Completion]:
    pieces: list[str] = []
    async for item in provider.stream(VENDOR_MODEL[provider.name], MESSAGES, 64, 2.0):
        if isinstance(item, Completion):
            return pieces, item
        pieces.append(item)
    raise AssertionError("the stream ended without its Completion")


@pytest.mark.parametrize("vendor", VENDORS)
async def test_pieces_arrive_in_order_and_the_vendor_usage_is_reported(
    vendor, fake, provider_for
) -> None:
    fake.enqueue(vendor, Reply(pieces=PIECES))
    pieces, completion = await collect(provider_for(vendor))
    assert pieces == PIECES
    assert completion.text == "".join(PIECES)
    assert (completion.tokens_in, completion.tokens_out) == (TOKENS_IN, TOKENS_OUT)
    assert completion.finish_reason == "stop"
    (request,) = fake.requests_to(vendor)
    if vendor == "google":
        assert request.path.endswith(":streamGenerateContent")
    else:
        assert request.body["stream"] is True
    if vendor == "openrouter":
        assert request.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_stream_without_usage_is_costed_from_an_estimate_with_a_warning(
    vendor, fake, provider_for, caplog
) -> None:
    fake.enqueue(vendor, Reply(pieces=PIECES, usage=False))
    with caplog.at_level(logging.WARNING):
        _, completion = await collect(provider_for(vendor))
    assert completion.tokens_out > 0 and completion.tokens_in > 0
    assert "estimating from text length" in caplog.text


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_error_before_the_stream_is_mapped_like_a_buffered_one(
    vendor, fake, provider_for
) -> None:
    fake.fail(vendor, 429)
    with pytest.raises(RetryableProviderError) as caught:
        await collect(provider_for(vendor))
    assert caught.value.kind == "rate_limited"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_connection_broken_mid_stream_raises_after_the_pieces_sent(
    vendor, fake, provider_for
) -> None:
    fake.enqueue(vendor, Reply(pieces=PIECES, break_after=2))
    seen: list[str] = []
    with pytest.raises(ProviderError):
        async for item in provider_for(vendor).stream(VENDOR_MODEL[vendor], MESSAGES, 64, 2.0):
            assert isinstance(item, str), "a broken stream must not end with a Completion"
            seen.append(item)
    assert seen == PIECES[:2]
