"""A micro-cache for pages read by many: each page is rendered at most once a second.

Rendering a page with a thousand stored games (its template, its charts) takes
milliseconds of the event loop that also relays moves; clients reloading it
continuously would have the loop rendering the same bytes over and over. With
:class:`PageCache` a page (by path and query) is answered from the bytes
rendered less than ``ttl_s`` ago: a page is at most that stale, and however
many readers there are, it costs one rendering per ``ttl_s``. Concurrent
requests for a page being rendered wait for that rendering.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["PageCache"]


class PageCache:
    """Rendered answers by path and query, reused for ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 1.0, max_pages: int = 256) -> None:
        self.ttl_s = ttl_s
        self.max_pages = max_pages
        self._pages: OrderedDict[str, tuple[float, Response]] = OrderedDict()
        self._rendering: dict[str, asyncio.Task[Response]] = {}
        self.rendered = 0

    async def get(self, request: Request, render: Callable[[], Awaitable[Response]]) -> Response:
        """The page for ``request``: cached, or rendered by ``render`` (once for all
        concurrent requests)."""
        key = f"{request.url.path}?{request.url.query}"
        cached = self._pages.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return self._copy(cached[1])
        task = self._rendering.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._render(key, render))
            self._rendering[key] = task
        return self._copy(await asyncio.shield(task))

    async def _render(self, key: str, render: Callable[[], Awaitable[Response]]) -> Response:
        try:
            response = await render()
            self.rendered += 1
            self._pages[key] = (time.monotonic(), response)
            self._pages.move_to_end(key)
            if len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)
            return response
        finally:
            self._rendering.pop(key, None)

    @staticmethod
    def _copy(response: Response) -> Response:
        """A new response with the same body, status and headers (a response object
        is sent once)."""
        copy = Response(response.body, status_code=response.status_code)
        copy.raw_headers = list(response.raw_headers)
        return copy
