"""Reading a service's HTTP API in tests as a reader the service accepts (`shared.http.reader`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from shared.auth import ActorAuth
from shared.contract.base import Actor, Role

#: who the test harnesses read as: an admin sees everything
ADMIN = Actor(user_id="ops-admin", role=Role.ADMIN)


@asynccontextmanager
async def reading(
    app: Any, private_key_pem: str, actor: Actor = ADMIN, base_url: str = "http://suite"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the ASGI `app` that reads as `actor`; a crash is answered 500, not raised."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    auth = ActorAuth(private_key_pem, actor)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, auth=auth) as client:
        yield client
