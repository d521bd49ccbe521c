"""Answer with the first model of a fallback chain that can: retries, backoff, circuits, deadline.

Pure of RabbitMQ and HTTP: it takes providers, breakers and settings as arguments, so the router
and the replay evaluator call it the same way and tests drive it with fake vendors.

Policy, per model in the chain:
- retryable errors (429, 5xx, 529, timeouts) are retried with jittered backoff, at most
  `max_attempts_per_model` calls and never past the deadline, then the next model is tried;
- a prompt too long for the model moves on to models with a larger context window only;
- auth, billing and bad-request errors rule out the rest of that provider for this request (its
  other models would answer the same) but another provider may still answer;
- an unknown model or a malformed answer moves on to the next model without retrying;
- an open circuit skips the model with reason "circuit_open".

Streamed calls (`emit` given) follow the same policy until the first piece of text has been
emitted; a failure after it cannot be taken back from the caller, so it ends the request with
StreamInterrupted (the partial text and why) instead of falling over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from schemas.messages import ChatMessage, FallbackHop, GenerationOptions
from shared.providers.base import (
    ChatProvider,
    Completion,
    ContextTooLongError,
    ProviderError,
    RetryableProviderError,
)
from shared.providers.common import malformed, timeout_error, unexpected
from shared.routing.catalog import ModelSpec
from shared.routing.resilience import BreakerRegistry, CircuitBreaker, backoff_delay
from shared.settings import Settings

logger = logging.getLogger(__name__)

# Receives each piece of a streamed answer with the model producing it. Must not raise: a
# caller that cannot be reached any more is the caller's business, not the provider's.
Emit = Callable[[ModelSpec, str], Awaitable[None]]

# Errors that prove the provider is up and answering: they close a circuit, not open it.
_REQUEST_FAULTS = {"bad_request", "context_too_long"}
# Errors after which no other model of the same provider is worth trying for this request.
_PROVIDER_WIDE = {"auth", "payment_required", "bad_request"}


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """The answer, the catalog model that gave it, and the models left on the way."""

    completion: Completion
    spec: ModelSpec
    hops: list[FallbackHop]
    attempts: int  # provider calls made in total, including failed ones


class AllModelsFailed(Exception):  # noqa: N818 - the name the router and issue 3 agreed on
    """No model in the chain answered; `hops` says why for each one."""

    def __init__(self, hops: list[FallbackHop], *, deadline_exceeded: bool = False) -> None:
        self.hops = hops
        self.deadline_exceeded = deadline_exceeded
        head = "deadline exceeded" if deadline_exceeded else "every model in the chain failed"
        tried = "; ".join(f"{h.provider}/{h.model}: {h.reason} x{h.attempts}" for h in hops)
        super().__init__(f"{head}: {tried or 'no configured model can take this request'}")


class StreamInterrupted(Exception):  # noqa: N818 - an outcome, like AllModelsFailed
    """A streamed answer failed after its first piece was emitted: no fallback is possible."""

    def __init__(self, partial: str, reason: str) -> None:
        super().__init__(f"the stream was interrupted after {len(partial)} characters: {reason}")
        self.partial = partial
        self.reason = reason
        self.spec: ModelSpec | None = None
        self.hops: list[FallbackHop] = []
        self.attempts = 0


@dataclass(slots=True)
class _Outcome:
    completion: Completion | None = None
    error: ProviderError | None = None
    attempts: int = 0
    reason: str = ""


async def call_with_fallback(
    chain: list[ModelSpec],
    providers: Mapping[str, ChatProvider],
    breakers: BreakerRegistry,
    messages: list[ChatMessage],
    *,
    max_tokens: int,
    deadline_s: float,
    settings: Settings,
    emit: Emit | None = None,
    options: GenerationOptions | None = None,
) -> DispatchResult:
    """Try the chain in order until a model answers, within `deadline_s` from now.

    Raises AllModelsFailed (with every model's reason) when the chain is exhausted or the
    deadline passes. The caller computes cost from `completion` tokens and `spec` prices.
    With `emit`, the answer is streamed through it; StreamInterrupted when it breaks off.
    """
    deadline = time.monotonic() + deadline_s
    hops: list[FallbackHop] = []
    total_attempts = 0
    ruled_out: dict[str, str] = {}  # provider -> the error kind that ruled it out
    needs_context_above = 0  # set by a context overflow: smaller windows cannot help
    for spec in chain:
        skip = _skip_reason(spec, providers, ruled_out, needs_context_above)
        if skip is None and not breakers.get(spec.provider, spec.id).allow():
            skip = "circuit_open"
        if skip is not None:
            hops.append(FallbackHop(provider=spec.provider, model=spec.id, reason=skip, attempts=0))
            continue
        try:
            outcome = await _call_model(
                spec,
                providers[spec.provider],
                breakers.get(spec.provider, spec.id),
                messages=messages,
                max_tokens=max_tokens,
                deadline=deadline,
                settings=settings,
                emit=emit,
                options=options,
            )
        except StreamInterrupted as exc:
            exc.spec, exc.hops, exc.attempts = spec, hops, total_attempts + exc.attempts
            raise
        total_attempts += outcome.attempts
        if outcome.completion is not None:
            return DispatchResult(outcome.completion, spec, hops, total_attempts)
        hop = FallbackHop(
            provider=spec.provider, model=spec.id, reason=outcome.reason, attempts=outcome.attempts
        )
        hops.append(hop)
        logger.warning(
            "left %s/%s after %d attempt(s): %s", hop.provider, hop.model, hop.attempts, hop.reason
        )
        if isinstance(outcome.error, ContextTooLongError):
            needs_context_above = max(needs_context_above, spec.context_window)
        elif outcome.error is not None and outcome.error.kind in _PROVIDER_WIDE:
            ruled_out[spec.provider] = outcome.error.kind
        if time.monotonic() >= deadline:
            raise AllModelsFailed(hops, deadline_exceeded=True)
    raise AllModelsFailed(hops)


def _skip_reason(
    spec: ModelSpec,
    providers: Mapping[str, ChatProvider],
    ruled_out: Mapping[str, str],
    needs_context_above: int,
) -> str | None:
    if spec.provider not in providers:
        return "provider_unavailable"
    if spec.provider in ruled_out:
        return ruled_out[spec.provider]
    if spec.context_window <= needs_context_above:
        return "context_too_small"
    return None


async def _call_model(
    spec: ModelSpec,
    provider: ChatProvider,
    breaker: CircuitBreaker,
    *,
    messages: list[ChatMessage],
    max_tokens: int,
    deadline: float,
    settings: Settings,
    emit: Emit | None = None,
    options: GenerationOptions | None = None,
) -> _Outcome:
    """Call one model, retrying retryable errors. The breaker already allowed the first call."""
    outcome = _Outcome()
    max_tokens = min(max_tokens, spec.max_output_tokens)
    retry_after: float | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome.reason = outcome.reason or "deadline"
            return outcome
        outcome.attempts += 1
        timeout_s = min(settings.provider_timeout_s, remaining)
        try:
            if emit is None or (options is not None and options.tools):
                # A request with tools is asked whole even when streamed: a tool call is only
                # usable complete, and it goes out in the stream's end (RouteStreamEnd).
                completion = await provider.complete(
                    spec.vendor_model, messages, max_tokens, timeout_s, options
                )
                if emit is not None and completion.text:
                    await emit(spec, completion.text)
            else:
                completion = await _stream_once(
                    spec, provider, messages, max_tokens, timeout_s, deadline, emit, options
                )
        except StreamInterrupted as exc:
            breaker.record_failure()
            exc.attempts = outcome.attempts
            raise
        except RetryableProviderError as exc:
            breaker.record_failure()
            outcome.error, outcome.reason, retry_after = exc, exc.kind, exc.retry_after_s
        except ProviderError as exc:
            if exc.kind in _REQUEST_FAULTS:
                breaker.record_success()
            else:
                breaker.record_failure()
            outcome.error, outcome.reason = exc, exc.kind
            return outcome
        except Exception as exc:
            # An adapter bug must not fail a request that another provider could answer.
            logger.error("provider %s raised %s", spec.provider, type(exc).__name__)
            breaker.record_failure()
            outcome.error = unexpected(spec.provider, exc)
            outcome.reason = outcome.error.kind
            return outcome
        else:
            breaker.record_success()
            outcome.completion = completion
            return outcome
        if outcome.attempts >= settings.max_attempts_per_model:
            return outcome
        delay = backoff_delay(
            outcome.attempts,
            base_s=settings.retry_base_delay_s,
            remaining_s=deadline - time.monotonic(),
            retry_after_s=retry_after,
        )
        # Give up on this model when the wait would outlast the deadline, or when the
        # failures so far have opened its circuit.
        if delay is None:
            return outcome
        await asyncio.sleep(delay)
        if not breaker.allow():
            return outcome


async def _stream_once(
    spec: ModelSpec,
    provider: ChatProvider,
    messages: list[ChatMessage],
    max_tokens: int,
    idle_s: float,
    deadline: float,
    emit: Emit,
    options: GenerationOptions | None = None,
) -> Completion:
    """One streamed call. `idle_s` bounds the wait for each piece (the first included), the
    deadline the whole. Before the first piece, errors are raised as from `complete()`."""
    loop = asyncio.get_running_loop()
    # The loop's clock may differ from time.monotonic (uvloop): convert the deadline once.
    last = loop.time() + (deadline - time.monotonic())
    sent: list[str] = []
    error: Exception
    try:
        async with (
            asyncio.timeout(min(loop.time() + idle_s, last)) as window,
            contextlib.aclosing(
                provider.stream(spec.vendor_model, messages, max_tokens, idle_s, options)
            ) as pieces,
        ):
            async for piece in pieces:
                if isinstance(piece, Completion):
                    return piece
                if piece:
                    sent.append(piece)
                    await emit(spec, piece)
                window.reschedule(min(loop.time() + idle_s, last))
        error = malformed(spec.provider, "the stream ended without its final event")
    except TimeoutError:
        error = timeout_error(spec.provider, idle_s)
    except ProviderError as exc:
        error = exc
    except Exception as exc:
        if not sent:
            raise
        logger.error("provider %s stream raised %s", spec.provider, type(exc).__name__)
        error = unexpected(spec.provider, exc)
    if sent:
        kind = error.kind if isinstance(error, ProviderError) else "unexpected"
        raise StreamInterrupted("".join(sent), kind)
    raise error
