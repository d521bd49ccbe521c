"""The one small interface every provider adapter implements, and our own error types.

Adapters turn vendor exceptions into `RetryableProviderError` or `FatalProviderError` in one
place, so that the router's retry, fallback and circuit logic never sees a vendor type.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from schemas.messages import ChatMessage, GenerationOptions, ToolCall


@dataclass(frozen=True, slots=True)
class Completion:
    """What a provider returned, in our terms."""

    text: str
    tokens_in: int
    tokens_out: int
    model: str  # the model the vendor says answered
    finish_reason: str
    tool_calls: tuple[ToolCall, ...] = ()


class ProviderError(Exception):
    """Base of our provider errors. `kind` is a short machine-readable label for metrics/rows."""

    kind: str = "provider_error"

    def __init__(self, message: str, *, kind: str | None = None, status: int | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.status = status


class RetryableProviderError(ProviderError):
    """Worth another try (429, 5xx, 529, timeouts, connection errors)."""

    kind = "retryable"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(message, kind=kind, status=status)
        self.retry_after_s = retry_after_s


class FatalProviderError(ProviderError):
    """Trying again will not help (400, 401, 403, malformed answer...)."""

    kind = "fatal"


class ContextTooLongError(FatalProviderError):
    """The prompt does not fit this model; a model with a larger context may still answer."""

    kind = "context_too_long"


class ChatProvider(Protocol):
    """A vendor adapter. One instance per process, created in the lifespan."""

    name: str

    async def complete(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> Completion:
        """Answer the chat with `model` (the vendor's model id). Raises only ProviderError.

        `options` (sampling, JSON output, tools) are sent in the vendor's terms; the policy
        only picks models whose catalog capabilities cover them."""
        ...

    def stream(
        self,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        timeout_s: float,
        options: GenerationOptions | None = None,
    ) -> AsyncGenerator[str | Completion, None]:
        """The answer as it is produced: pieces of text, then one Completion (the whole text,
        usage, finish reason) as the last item. `timeout_s` bounds the opening of the stream.
        Raises only ProviderError; the caller bounds the wait for each piece."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
