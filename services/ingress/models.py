"""HTTP request and response bodies of the ingress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from schemas.messages import (
    STRICT,
    ChatMessage,
    FallbackHop,
    GenerationOptions,
    PromptText,
    RouteConstraints,
    ToolCall,
)


class RouteBody(BaseModel):
    """Either `messages` (a chat) or `prompt` (one user message)."""

    model_config = STRICT
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    prompt: PromptText | None = None
    max_tokens: int = Field(default=512, ge=1, le=32768)
    constraints: RouteConstraints | None = None
    options: GenerationOptions | None = Field(
        default=None, description="sampling, JSON output and tools; only capable models answer"
    )
    stream: bool = Field(
        default=False,
        description="answer as server-sent events as the model produces it: `chunk` events "
        '({"seq", "delta"}), then `end` (the other fields of the answer) or `error`',
    )

    @model_validator(mode="after")
    def _one_input(self) -> RouteBody:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'messages' or 'prompt'")
        return self

    def chat(self) -> list[ChatMessage]:
        if self.messages is not None:
            return self.messages
        assert self.prompt is not None
        return [ChatMessage(role="user", content=self.prompt)]


class RouteResponse(BaseModel):
    request_id: UUID
    answer: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    provider: str
    model: str
    pattern: str
    complexity: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    baseline_cost_usd: float
    savings_usd: float
    latency_ms: float
    attempts: int
    explored: bool
    override_version: int | None
    model_version: int | None = None
    fallback_path: list[FallbackHop]


class FeedbackBody(BaseModel):
    model_config = STRICT
    request_id: UUID = Field(strict=False)
    quality_score: int = Field(ge=1, le=5)
    is_correct: bool | None = None
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackResponse(BaseModel):
    request_id: UUID
    status: str
    detail: str


class HealthResponse(BaseModel):
    status: str
    providers: list[dict[str, Any]]
    broker: dict[str, Any]
    database: dict[str, Any]
    services: dict[str, Any]
    auth: dict[str, Any] = Field(default_factory=dict)
