"""What a caller asks of a model: the turns of a conversation (text, images, tool calls) and
the generation options besides the prompt.

These are parts of a RouteRequest, never sent alone; the ingress builds them from the OpenAI
and Anthropic wire formats and the providers translate them to each vendor's.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from schemas.messages.base import BLANK_TEXT, STRICT

DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,")


class ImagePart(BaseModel):
    """An image given with a message: an http(s) URL or a `data:<media type>;base64,` URL."""

    model_config = STRICT

    url: str = Field(min_length=1, max_length=20_000_000)

    @field_validator("url")
    @classmethod
    def _url_or_data(cls, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        if DATA_URL.match(url[:120]):
            return url
        raise ValueError("an image is an http(s) URL or a data:image/...;base64, URL")

    def inline(self) -> tuple[str, str] | None:
        """(media type, base64 data) of a data URL; None for a web URL."""
        match = DATA_URL.match(self.url[:120])
        if match is None:
            return None
        return match.group(1), self.url[match.end() :]


class ToolCall(BaseModel):
    """A call the model asked for: `arguments` is the JSON text of the arguments."""

    model_config = STRICT

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    arguments: str = "{}"


class ChatMessage(BaseModel):
    """One turn. `content` is the text (empty for an assistant turn that only calls tools);
    `images` follow the text; a `tool` turn answers the call named by `tool_call_id`."""

    model_config = STRICT
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[ImagePart] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _says_something(self) -> ChatMessage:
        if self.role == "tool":
            if not self.tool_call_id:
                raise ValueError("a tool message needs the tool_call_id it answers")
        elif not (self.content.strip() or self.images or self.tool_calls):
            raise ValueError(f"content {BLANK_TEXT} (or images, or tool calls)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message calls tools")
        if self.images and self.role != "user":
            raise ValueError("only a user message carries images")
        return self


class ToolSpec(BaseModel):
    """A function the model may call; `parameters` is its arguments' JSON Schema."""

    model_config = STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ResponseFormat(BaseModel):
    """`json_object`: any JSON object; `json_schema`: JSON valid against `json_schema`."""

    model_config = STRICT

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str = "response"
    json_schema: dict[str, Any] | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format json_schema needs a schema")
        return self


ToolChoice = Literal["auto", "none", "required"] | str  # or the name of one tool to call


class GenerationOptions(BaseModel):
    """What the caller asked of the generation besides the prompt. Unset means the vendor's
    default. Only models whose catalog capabilities cover what is set are chosen."""

    model_config = STRICT

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] = Field(default_factory=list, max_length=16)
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)
    response_format: ResponseFormat | None = None
    tools: list[ToolSpec] = Field(default_factory=list, max_length=128)
    tool_choice: ToolChoice | None = None

    @model_validator(mode="after")
    def _choice_names_a_tool(self) -> GenerationOptions:
        choice = self.tool_choice
        if choice not in (None, "auto", "none", "required") and choice not in {
            t.name for t in self.tools
        }:
            raise ValueError("tool_choice names no tool of `tools`")
        return self

    def sampling(self) -> list[str]:
        """The sampling controls this request sets (catalog `sampling` names)."""
        given = {
            "temperature": self.temperature is not None,
            "top_p": self.top_p is not None,
            "stop": bool(self.stop),
            "seed": self.seed is not None,
        }
        return [name for name, is_set in given.items() if is_set]
