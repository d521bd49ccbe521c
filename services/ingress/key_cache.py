"""API key records by hash, cached briefly: the ingress asks the feedback service only on a miss.

Held by the ingress state (`IngressState.keys`). A revoked key keeps working on a replica for at
most `AUTH_CACHE_TTL_S` (a key with limits is re-checked on each admission, so for it revocation
is immediate). Unknown keys are cached too, so a flood of wrong keys costs one lookup per
distinct key and TTL, and the cache is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from shared.storage.apikeys import ApiKeyInfo, hash_key

_CACHE_SIZE = 10_000

# Asks for the record of the key with this sha256 (None when there is no such key).
Lookup = Callable[[str], Awaitable[ApiKeyInfo | None]]


class KeyVerifier:
    """Key records by hash, cached briefly; concurrent misses for one key share one lookup."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl = ttl_s
        self._cache: OrderedDict[str, tuple[float, ApiKeyInfo | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ApiKeyInfo | None]] = {}

    async def verify(self, key: str, lookup: Lookup) -> ApiKeyInfo | None:
        """The key's record, or None when no such key exists; `lookup(sha256)` asks for it."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            self._cache.move_to_end(digest)
            return cached[1]
        pending = self._inflight.get(digest)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    return await self.verify(key, lookup)  # the caller that looked it up went away
                raise
        future: asyncio.Future[ApiKeyInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            info = await lookup(digest)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters, if any, re-raise it themselves
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(digest, None)
        future.set_result(info)
        self._remember(digest, info)
        return info

    def forget(self) -> None:
        self._cache.clear()

    def _remember(self, digest: str, info: ApiKeyInfo | None) -> None:
        if self._ttl <= 0:
            return
        self._cache[digest] = (time.monotonic() + self._ttl, info)
        self._cache.move_to_end(digest)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
