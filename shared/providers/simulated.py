"""A local, deterministic provider that needs no key, so the whole system runs out of the box."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator

from schemas.messages import ChatMessage, GenerationOptions
from shared.providers.base import Completion
from shared.routing.tokens import CHARS_PER_TOKEN, PER_MESSAGE_TOKENS, estimate_tokens


class SimulatedProvider:
    """Answers every prompt locally after `latency_ms`, always saying that it is simulated."""

    name = "simulated"

    def __init__(self, latency_ms: int = 0) -> None:
        self._latency_s = latency_ms / 1000

    async def complete(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> Completion:
        # The catalog gives simulated models no tools, images or JSON output, so the policy
        # never sends such requests here; sampling controls do not change a canned answer.
        if self._latency_s:
            await asyncio.sleep(min(self._latency_s, timeout_s))
        return _answer(model, messages, max_tokens)

    async def stream(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> AsyncGenerator[str | Completion, None]:
        """The same answer, word by word, after the same latency."""
        if self._latency_s:
            await asyncio.sleep(min(self._latency_s, timeout_s))
        completion = _answer(model, messages, max_tokens)
        for index, word in enumerate(completion.text.split(" ")):
            yield word if index == 0 else " " + word
            await asyncio.sleep(0)  # a model's pieces arrive one at a time
        yield completion

    async def aclose(self) -> None:
        return None


def _answer(model: str, messages: list[ChatMessage], max_tokens: int) -> Completion:
    """The deterministic answer, truncated to `max_tokens`."""
    prompt = "\n".join(m.content for m in messages)
    digest = hashlib.blake2b(f"{model}\0{prompt}".encode(), digest_size=4).hexdigest()
    text = (
        f"[simulated answer from {model}, no provider key is configured] "
        f"This deterministic reply ({digest}) stands in for a real model's answer."
    )
    words = text.split()
    budget = max(1, max_tokens)
    finish = "stop"
    if estimate_tokens(text) > budget:
        text = " ".join(words[: max(1, budget * CHARS_PER_TOKEN // 6)])
        finish = "length"
    tokens_in = sum(estimate_tokens(m.content) + PER_MESSAGE_TOKENS for m in messages)
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=min(budget, estimate_tokens(text)),
        model=model,
        finish_reason=finish,
    )
