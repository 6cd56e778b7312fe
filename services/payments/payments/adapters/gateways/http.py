"""One way for gateway adapters to call a PSP over HTTP and classify what went wrong."""

from __future__ import annotations

from typing import Any

import httpx

from payments.domain.gateway import GatewayUnavailable


async def post_json(
    url: str, body: dict[str, Any], *, headers: dict[str, str] | None = None, timeout: float
) -> tuple[int, Any]:
    """POST JSON; the status and the decoded answer. No answer, or an unreadable 5xx, is
    `GatewayUnavailable`: the request may or may not have been carried out."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(
                url, json=body, headers={"accept": "application/json", **(headers or {})}
            )
    except httpx.HTTPError as exc:
        raise GatewayUnavailable(f"no answer from {url}: {exc!r}") from exc
    try:
        document = response.json()
    except ValueError as exc:
        raise GatewayUnavailable(f"{url} answered {response.status_code}, not JSON") from exc
    if response.status_code >= 500:
        raise GatewayUnavailable(f"{url} answered {response.status_code}: {document}")
    return response.status_code, document
