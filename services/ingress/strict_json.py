"""Request bodies parsed as strict JSON, for every route of the ingress.

Python's `json.loads`, which FastAPI uses, accepts what JSON does not: lone UTF-16 surrogates
(`"\\ud800"`, a string no UTF-8 encoder can write, which then failed deep in the router with a
500) and `NaN` / `Infinity`. Here bodies are parsed by pydantic-core's parser, the one every bus
consumer and the chat fast lane already use, so HTTP and the bus accept exactly the same JSON.
A body it refuses is FastAPI's own 422 `json_invalid`.

Every router of the ingress is made with `strict_router()` below;
tests/unit/test_ingress_access.py checks that no route is left with FastAPI's default parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body, allow_inf_nan=False)
            except ValueError as exc:
                # FastAPI turns exactly this type into its 422 `json_invalid`. The reason
                # names a position, never the offending text.
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class StrictJSONRoute(APIRoute):
    """An APIRoute whose handler reads the body with `StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def strict_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes parse bodies as strict JSON."""
    return APIRouter(route_class=StrictJSONRoute, **kwargs)
