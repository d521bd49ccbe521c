"""What the vendor adapters share: one table from HTTP errors to our error types, and usage.

Messages built here carry the provider, the HTTP status and the vendor's short error code only.
Vendor error *messages* are never copied: some vendors echo parts of the request in them, and
prompts are personal data that must not reach logs. For the same reason adapters raise these
errors `from None`, so that the vendor exception (which holds the raw body) is not chained.

Kinds (the `kind` label on each error, used in fallback hops and metrics):
retryable: rate_limited, overloaded, server_error, timeout, connection;
fatal: bad_request, context_too_long, auth, payment_required, not_found, malformed_response,
unexpected (an adapter bug).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime

from schemas.messages import ChatMessage
from shared.providers.base import (
    ContextTooLongError,
    FatalProviderError,
    ProviderError,
    RetryableProviderError,
)
from shared.routing.tokens import estimate_tokens

logger = logging.getLogger(__name__)

# Phrases the vendors use when the prompt does not fit (Anthropic "prompt is too long",
# Gemini "input token count ... exceeds the maximum", OpenAI-style "maximum context length").
_CONTEXT_OVERFLOW = re.compile(
    r"prompt is too long|context length|context window|maximum context|too many tokens"
    r"|input token count|exceeds the maximum number of tokens",
    re.IGNORECASE,
)
# Vendor codes are enum-like ("overloaded_error", "RESOURCE_EXHAUSTED"); anything else is dropped.
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def looks_like_context_overflow(vendor_message: object) -> bool:
    """True when a vendor's error message says the prompt exceeds the model's context."""
    return isinstance(vendor_message, str) and bool(_CONTEXT_OVERFLOW.search(vendor_message))


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` (Anthropic) or `Retry-After` (seconds or a date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def parse_duration(value: object) -> float | None:
    """A protobuf JSON duration such as "37s" or "0.25s" (Gemini's RetryInfo.retryDelay)."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return max(0.0, float(value[:-1]))
        except ValueError:
            return None
    return None


def error_for_status(
    provider: str,
    status: int,
    *,
    vendor_code: object = None,
    retry_after_s: float | None = None,
    context_too_long: bool = False,
) -> ProviderError:
    """Our error for an HTTP error answer. `context_too_long` comes from the vendor message."""
    code = vendor_code if isinstance(vendor_code, str) and _SAFE_CODE.match(vendor_code) else None
    label = f"{provider} answered HTTP {status}" + (f" ({code})" if code else "")
    # 413 is a request too large in bytes; a larger-context model is still the best next try.
    if context_too_long or status == 413:
        return ContextTooLongError(
            f"{label}: the prompt exceeds the model's context", status=status
        )
    if status == 429:
        return RetryableProviderError(
            f"{label}: rate limited",
            kind="rate_limited",
            status=status,
            retry_after_s=retry_after_s,
        )
    if status == 529:
        return RetryableProviderError(
            f"{label}: overloaded", kind="overloaded", status=status, retry_after_s=retry_after_s
        )
    # 408/409 are what the vendors' own SDKs retry besides 429 and 5xx.
    if status >= 500 or status in (408, 409):
        return RetryableProviderError(
            label, kind="server_error", status=status, retry_after_s=retry_after_s
        )
    if status in (401, 403):
        return FatalProviderError(f"{label}: key rejected", kind="auth", status=status)
    if status == 402:
        return FatalProviderError(f"{label}: billing", kind="payment_required", status=status)
    if status == 404:
        return FatalProviderError(f"{label}: unknown model", kind="not_found", status=status)
    return FatalProviderError(label, kind="bad_request", status=status)


def timeout_error(provider: str, timeout_s: float) -> RetryableProviderError:
    return RetryableProviderError(
        f"{provider} did not answer within {timeout_s:.2f}s", kind="timeout"
    )


def connection_error(provider: str, exc: BaseException) -> RetryableProviderError:
    # The type says enough (ConnectError, RemoteProtocolError...); its text may hold a URL.
    return RetryableProviderError(
        f"{provider} connection failed ({type(exc).__name__})", kind="connection"
    )


def malformed(provider: str, what: str) -> FatalProviderError:
    """A 200 answer we cannot read.

    Fatal rather than retryable: such an answer was probably billed, and the same model on the same
    path tends to answer the same way (an API change, a proxy's HTML page), so the dispatcher moves
    to the next model at once instead of paying again; the circuit breaker counts it as a failure.
    """
    return FatalProviderError(
        f"{provider} sent a malformed answer: {what}", kind="malformed_response"
    )


def unexpected(provider: str, exc: BaseException) -> FatalProviderError:
    """Last resort, so that `complete()` raises only ProviderError as the interface promises."""
    return FatalProviderError(
        f"{provider} adapter failed unexpectedly ({type(exc).__name__})", kind="unexpected"
    )


# Upper bounds of a believable token count. A token of any vendor's tokenizer (byte-level BPE,
# SentencePiece) covers at least one byte of text, and the vendors add a few tokens around each
# message; the output is capped by `max_tokens` (thinking included) plus the visible text. A
# count above the bound, negative, or not an integer is no usage report: a vendor reporting
# -5 tokens crashed the router's cost counter (the request was retried until dead-lettered),
# and 10^12 tokens overflowed the row's columns (the answer was billed, its row was lost).
_SLACK_PER_MESSAGE = 32
_SLACK = 1024
_ABSOLUTE_MAX = 2_000_000  # beyond any context window; fits the integer columns


def usage_or_estimate(
    provider: str,
    tokens_in: object,
    tokens_out: object,
    messages: Sequence[ChatMessage],
    text: str,
    max_tokens: int | None = None,
) -> tuple[int, int]:
    """The vendor's token counts where believable, else an estimate, with a warning.

    A missing or absurd usage block does not make the answer worthless, and throwing it away
    would mean paying again elsewhere; costing it at $0 is never allowed, so we estimate and say
    so in the log (`reported none` / `reported an invalid count`); the row is recorded with the
    estimate.
    """
    prompt_bytes = sum(len(m.content.encode()) + _SLACK_PER_MESSAGE for m in messages)
    text_bytes = len(text.encode())
    out_cap = (max_tokens if max_tokens is not None else _ABSOLUTE_MAX) + text_bytes + _SLACK
    checked_in = _believable(tokens_in, min(prompt_bytes + _SLACK, _ABSOLUTE_MAX))
    checked_out = _believable(tokens_out, min(out_cap, _ABSOLUTE_MAX))
    if checked_in is None:
        _estimated(provider, "input", tokens_in)
        checked_in = sum(estimate_tokens(m.content) for m in messages)
    if checked_out is None:
        _estimated(provider, "output", tokens_out)
        checked_out = estimate_tokens(text) if text else 0
    return checked_in, checked_out


def _believable(count: object, bound: int) -> int | None:
    # bool is an int to Python, never a token count.
    if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= bound:
        return count
    return None


def _estimated(provider: str, side: str, reported: object) -> None:
    problem = "none" if reported is None else "an invalid count"
    # The reported value is not logged: it is the vendor's, and may be anything.
    logger.warning(
        "%s reported %s of %s tokens; estimating from text length", provider, problem, side
    )
