"""What a request needs of a model (tool use, images, JSON output, sampling controls). Pure.

Computed once per request from its messages and options, then checked against each candidate's
catalog `Capabilities` by the policy and the fallback chain: a prompt with tools never reaches a
model without tool use, an image never reaches a text-only model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.messages import ChatMessage, GenerationOptions
from shared.routing.catalog import Capabilities


@dataclass(frozen=True, slots=True)
class Needs:
    """The capabilities one request needs; `NONE` (plain text) fits every model."""

    tools: bool = False
    vision: bool = False
    json_object: bool = False
    json_schema: bool = False
    sampling: frozenset[str] = frozenset()

    @classmethod
    def of(cls, messages: Sequence[ChatMessage], options: GenerationOptions) -> Needs:
        """What these messages and options need. A history with tool calls needs tool use even
        without `tools`: only such a model can read the calls and their results."""
        tools = bool(options.tools) or any(m.tool_calls or m.role == "tool" for m in messages)
        fmt = options.response_format.type if options.response_format else "text"
        needs = cls(
            tools=tools,
            vision=any(m.images for m in messages),
            json_object=fmt == "json_object",
            json_schema=fmt == "json_schema",
            sampling=frozenset(options.sampling()),
        )
        return NONE if needs == NONE else needs

    def lacking(self, capabilities: Capabilities) -> str | None:
        """The first need these capabilities miss, as a reason for the preview; None if none."""
        if self is NONE:
            return None
        if self.tools and not capabilities.tools:
            return "no tool use"
        if self.vision and not capabilities.vision:
            return "no image input"
        if self.json_schema and not capabilities.json_schema:
            return "no JSON schema output"
        if self.json_object and not (capabilities.json_object or capabilities.json_schema):
            return "no JSON output"
        missing = self.sampling - capabilities.sampling
        if missing:
            return "does not take " + ", ".join(sorted(missing))
        return None


NONE = Needs()
