"""What a careful tester sent (issue 17): each answered with a clear 4xx, never a 500, an echo of
the input or a name of our internals. Over the running system: real HTTP, broker and database."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import delete_namespace, free_port
from tests.system import RunningSystem, start_system

JSON = {"content-type": "application/json"}
# A lone UTF-16 surrogate is valid JSON syntax for Python's json module, but no string of it
# can be encoded as UTF-8.
LONE_SURROGATE = r"hi \ud800"
CHAT = '{"model": "%s", "messages": [{"role": "user", "content": "%s"}]}'
FEEDBACK = '{"request_id": "%s", "quality_score": 5, "comment": "%s"}'
ANY_ID = "6f1c2b0e-0d4e-4c1a-9a57-3f2f1b0c9d11"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/route", '{"prompt": "%s"}'),
        ("/v1/route", '{"messages": [{"role": "user", "content": "%s"}]}'),
        ("/v1/route/preview", '{"prompt": "%s"}'),
        ("/v1/chat/completions", CHAT % ("auto", "%s")),
        ("/v1/chat/completions", CHAT % ("%s", "x")),
        ("/production/feedback", FEEDBACK % ("%s", "x")),
        ("/production/feedback", FEEDBACK % (ANY_ID, "%s")),
    ],
)
async def test_a_lone_surrogate_is_a_422_not_a_500(
    system: RunningSystem, path: str, body: str
) -> None:
    async with system.client() as client:
        response = await client.post(path, content=(body % LONE_SURROGATE).encode(), headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "invalid_request"


async def test_nan_and_infinity_are_not_json(system: RunningSystem) -> None:
    body = '{"prompt": "hi", "constraints": {"max_cost_usd": NaN}}'
    async with system.client() as client:
        response = await client.post("/v1/route", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text


async def test_an_unknown_model_is_never_echoed(system: RunningSystem) -> None:
    name = "no-such-model-" + "z" * 20_000
    async with system.client() as client:
        answers = [
            await client.post(
                "/v1/chat/completions",
                json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
            ),
            await client.get(f"/v1/models/{name[:2000]}"),
            await client.post("/v1/route", json={"prompt": "hi", "constraints": {"model": name}}),
            await client.get(f"/schemas/{name[:2000]}.json"),
        ]
    for response in answers:
        assert response.status_code in (404, 422), response.text[:300]
        assert "no-such-model" not in response.text
        assert len(response.content) < 1000
    assert answers[2].json()["error"]["message"].startswith("constraints.model is not")


async def test_validation_errors_quote_no_input(system: RunningSystem) -> None:
    secret = "my-secret-prompt-text"
    async with system.client() as client:
        answers = [
            await client.post("/v1/route", json={"messages": [{"role": secret, "content": "x"}]}),
            await client.post(
                "/production/feedback", json={"request_id": secret, "quality_score": 3}
            ),
            await client.post("/v1/route", json={"prompt": "hi", "max_tokens": secret}),
        ]
    for response in answers:
        assert response.status_code == 422
        assert secret not in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/route", {"prompt": "   "}),
        ("/v1/route", {"prompt": "\n\t "}),
        ("/v1/route", {"messages": [{"role": "user", "content": "  "}]}),
        ("/v1/route/preview", {"prompt": "   "}),
        ("/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": " "}]}),
    ],
)
async def test_a_blank_prompt_is_refused_the_same_way_everywhere(
    system: RunningSystem, path: str, body: dict[str, object]
) -> None:
    async with system.client() as client:
        response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert "not only whitespace" in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/production/feedback", {"quality_score": "5"}),
        ("/production/feedback", {"quality_score": True}),
        ("/production/feedback", {"quality_score": 5.0}),
        ("/production/feedback", {"quality_score": 5, "is_correct": "yes"}),
        ("/production/feedback", {"quality_score": 5, "is_correct": 1}),
        ("/production/feedback", {"quality_score": 5, "comment": 7}),
        ("/v1/route", {"prompt": "hi", "max_tokens": True}),
        ("/v1/route", {"prompt": "hi", "max_tokens": "50"}),
        ("/v1/route", {"prompt": 5}),
        ("/v1/route", {"prompt": "hi", "constraints": {"max_cost_usd": "1"}}),
        ("/v1/chat/completions", {"max_tokens": True}),
        ("/v1/chat/completions", {"stream": "yes"}),
        ("/v1/chat/completions", {"n": "1"}),
    ],
)
async def test_strict_types_on_the_http_contract(
    system: RunningSystem, path: str, body: dict[str, object]
) -> None:
    if path == "/production/feedback":
        body = {"request_id": str(uuid.uuid4()), **body}
    elif path == "/v1/chat/completions":
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **body}
    async with system.client() as client:
        response = await client.post(path, json=body)
    assert response.status_code == 422, f"{body} -> {response.status_code} {response.text}"


async def test_a_timeout_does_not_name_the_queue(system: RunningSystem) -> None:
    # An ingress of its own namespace, where no router listens: every request times out.
    lonely = system.settings.model_copy(
        update={"amqp_prefix": f"{system.settings.amqp_prefix}lonely.", "request_timeout_s": 0.5}
    )
    running = await start_system(lonely, free_port(), workers=())
    try:
        async with running.client() as client:
            response = await client.post("/v1/route", json={"prompt": "hi"})
    finally:
        await running.stop()
        await delete_namespace(lonely.rabbitmq_url, lonely.amqp_prefix)
    assert response.status_code == 504
    text = json.dumps(response.json())
    assert "route.requests" not in text and lonely.amqp_prefix not in text
