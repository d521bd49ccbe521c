"""The OpenAI wire format: messages in, chat.completion (and its stream) out."""

from __future__ import annotations

import json

import pytest

from services.ingress.errors import ApiError
from services.ingress.openai_answer import OpenAIChunks, completion_object
from services.ingress.openai_compat import ChatCompletionBody
from services.ingress.openai_request import refuse_unsupported, to_chat, to_options


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
        ({"role": "function", "content": "42", "name": "f"}, "use tool"),
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "image_url"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}, "url"),
        ({"role": "assistant", "content": None}, "not only whitespace"),
        ({"role": "user", "content": "   "}, "not only whitespace"),
        ({"role": "tool", "content": "42"}, "tool_call_id"),
    ],
)
def test_what_we_cannot_answer_is_a_422_naming_the_message(
    message: dict[str, object], words: str
) -> None:
    with pytest.raises(ApiError) as caught:
        to_chat(_body([{"role": "user", "content": "hi"}, message]).messages)
    assert caught.value.status == 422
    assert "messages[1]" in caught.value.message and words in caught.value.message


def test_images_tool_calls_and_tool_results_become_ours() -> None:
    picture = "data:image/png;base64,iVBORw0KGgo="
    body = _body(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather where this was taken?"},
                    {"type": "image_url", "image_url": {"url": picture, "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
        ]
    )
    user, assistant, tool = to_chat(body.messages)
    assert user.images[0].inline() == ("image/png", "iVBORw0KGgo=")
    assert assistant.tool_calls[0].name == "weather"
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_1", "rain")


def test_sampling_output_and_tools_are_forwarded_not_dropped() -> None:
    body = ChatCompletionBody.model_validate(
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "seed": 7,
            "user": "u-1",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "city", "schema": {"type": "object"}, "strict": True},
            },
            "tools": [{"type": "function", "function": {"name": "weather"}}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
        }
    )
    options = to_options(body)
    assert (options.temperature, options.top_p, options.stop, options.seed) == (
        0.2,
        0.9,
        ["END"],
        7,
    )
    assert options.response_format is not None and options.response_format.strict
    assert options.tools[0].name == "weather" and options.tool_choice == "weather"


@pytest.mark.parametrize(
    ("extra", "n", "words"),
    [({}, 2, "n > 1"), ({"logprobs": True}, None, "logprobs"), ({"presence_penalty": 1}, 1, "")],
)
def test_what_no_model_behind_us_honours_is_a_clear_422(
    extra: dict[str, object], n: int | None, words: str
) -> None:
    with pytest.raises(ApiError) as caught:
        refuse_unsupported(extra, n)
    assert caught.value.status == 422 and words in caught.value.message
    refuse_unsupported({"logprobs": False, "presence_penalty": 0}, 1)  # defaults pass


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


def _events(text: str) -> list[dict[str, object]]:
    assert text.endswith("\n\n")
    return [json.loads(e.removeprefix("data: ")) for e in text.split("\n\n")[:-1]]


def test_stream_is_role_then_deltas_then_finish_usage_and_done() -> None:
    chunks = OpenAIChunks("id-1", include_usage=True)
    events = _events(chunks.opening("simulated-mini") + chunks.piece("Par") + chunks.piece("is."))
    closing = chunks.closing(REPLY)
    assert closing.endswith("data: [DONE]\n\n")
    events += _events(closing.removesuffix("data: [DONE]\n\n"))
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == "id-1" for e in events)
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]  # type: ignore[index]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content") or "" for d in deltas) == "Paris."
    assert events[-2]["choices"][0]["finish_reason"] == "length"  # type: ignore[index]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 15  # type: ignore[index]


def test_a_failure_after_the_first_text_is_an_error_event_the_sdk_raises() -> None:
    chunks = OpenAIChunks("id-2", include_usage=False)
    error = ApiError(502, "stream_interrupted", "the answer broke off", extra={"request_id": "x"})
    (event,) = _events(chunks.failure(error))
    assert event["error"] == {
        "type": "stream_interrupted",
        "message": "the answer broke off",
        "request_id": "x",
    }
