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


@asynccontextmanager
async def reading_service(
    service: Any, private_key_pem: str, *, base_url: str, app: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    """`reading` of a built, unstarted service (its internal app, or `app`), as an admin; its
    kept clients and its database are closed after."""
    async with reading(app or service.app(), private_key_pem, base_url=base_url) as client:
        yield client
    for close in service.on_stop:
        await close()
    await service.db.dispose()


#: the error code each refusal status carries (`shared.http`)
REFUSALS = {400: "malformed", 404: "not_found"}


def assert_json(answer: httpx.Response, status: int) -> None:
    """`answer` has `status` and is JSON."""
    assert (answer.status_code, answer.headers["content-type"]) == (status, "application/json")


def assert_refused(answer: httpx.Response, status: int) -> None:
    """`answer` is a refusal of `status` in JSON with its error code."""
    assert_json(answer, status)
    assert answer.json()["error"] == REFUSALS[status]
