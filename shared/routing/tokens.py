"""Token estimates: pre-call context and cost checks, the simulated provider, the replay catalog.

No tokenizer: roughly four characters per token for English text, the usual rule of thumb. Good
enough to skip a model whose context cannot hold a prompt and to cost simulated answers; real
counts come back from the vendors.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.messages import ChatMessage

CHARS_PER_TOKEN = 4
# Role and framing overhead per chat message, in tokens (OpenAI's published rule of thumb).
PER_MESSAGE_TOKENS = 4
# An image, whatever its size: the most Anthropic bills for one (about 1,600 tokens, from its
# (width x height) / 750 rule on a downscaled 1092x1092 picture); Gemini bills 258 per tile.
IMAGE_TOKENS = 1600


def estimate_tokens(text: str) -> int:
    """A cheap token estimate of one text (at least 1)."""
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Iterable[ChatMessage]) -> int:
    """Rough prompt size, to skip models whose context cannot hold it before paying for a call."""
    return sum(
        estimate_tokens(m.content) + PER_MESSAGE_TOKENS + IMAGE_TOKENS * len(m.images)
        for m in messages
    )
