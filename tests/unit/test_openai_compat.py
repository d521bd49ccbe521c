"""The OpenAI wire format: messages in, chat.completion (and its stream) out."""

from __future__ import annotations

import json

import pytest

from services.ingress.errors import ApiError
from services.ingress.openai_compat import (
    ChatCompletionBody,
    completion_object,
    stream_events,
    to_chat,
)


def _body(messages: list[dict[str, object]]) -> ChatCompletionBody:
    return ChatCompletionBody.model_validate({"model": "auto", "messages": messages})


def test_roles_and_text_parts_become_our_chat_messages() -> None:
    body = _body(
        [
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "ok"},
        ]
    )
    chat = to_chat(body.messages)
    assert [(m.role, m.content) for m in chat] == [
        ("system", "Be brief."),
        ("user", "a\nb"),
        ("assistant", "ok"),
    ]


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"role": "tool", "content": "42", "tool_call_id": "x"}, "tool messages"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}, "text"),
        ({"role": "assistant", "content": None}, "not only whitespace"),
        ({"role": "user", "content": "   "}, "not only whitespace"),
    ],
)
def test_what_we_cannot_answer_is_a_422_naming_the_message(
    message: dict[str, object], words: str
) -> None:
    with pytest.raises(ApiError) as caught:
        to_chat(_body([{"role": "user", "content": "hi"}, message]).messages)
    assert caught.value.status == 422
    assert "messages[1]" in caught.value.message and words in caught.value.message


def test_sampling_parameters_are_accepted_and_n_above_one_is_not() -> None:
    body = ChatCompletionBody.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    )
    assert body.model == "auto"
    with pytest.raises(ValueError, match="n"):
        ChatCompletionBody.model_validate(
            {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "n": 2}
        )


REPLY = {
    "ok": True,
    "answer": "Paris.",
    "model": "simulated-fast",
    "provider": "simulated",
    "tokens_in": 12,
    "tokens_out": 3,
    "cost_usd": 2.4e-06,
    "finish_reason": "max_tokens",
}


def test_completion_object_has_openai_fields_and_our_request_id() -> None:
    completion = completion_object(REPLY, "0f8fad5b-d9cb-469f-a165-70867728950e", 1700000000)
    assert completion["id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "Paris."}
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def test_stream_is_chunks_then_done() -> None:
    completion = completion_object(REPLY, "id-1", 1)
    events = stream_events(completion, include_usage=True)
    assert events[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "id-1" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["content"] == "Paris."
    assert chunks[1]["choices"][0]["finish_reason"] == "length"
    assert chunks[2]["usage"]["total_tokens"] == 15
