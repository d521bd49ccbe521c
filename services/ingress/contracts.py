"""The bus contract over HTTP, for producers in any language: JSON Schemas and AsyncAPI.

Public (no key needed): they describe message shapes, not data.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from fastapi import Request

from schemas.export import MESSAGES, json_schema
from services.ingress.errors import ApiError
from services.ingress.strict_json import strict_router

router = strict_router(tags=["contracts"])


@functools.cache
def _asyncapi() -> dict[str, Any]:
    # Built once per process: the document depends on code only.
    from shared.messaging.asyncapi import asyncapi_document

    document: dict[str, Any] = json.loads(json.dumps(asyncapi_document()))
    return document


@router.get("/schemas")
async def list_schemas(request: Request) -> dict[str, Any]:
    """The messages of the bus, each with the URL of its JSON Schema."""
    base = str(request.base_url).rstrip("/")
    return {
        "messages": [{"name": n, "url": f"{base}/schemas/{n}.json"} for n in sorted(MESSAGES)],
        "asyncapi": f"{base}/asyncapi.json",
    }


@router.get("/schemas/{name}.json", responses={404: {"description": "unknown message"}})
async def get_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one message, e.g. /schemas/RouteRequest.json."""
    if name not in MESSAGES:
        raise ApiError(404, "not_found", "no such message; see GET /schemas")
    return json_schema(name)


@router.get("/asyncapi.json")
async def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the bus: queues, exchanges, messages."""
    return _asyncapi()
