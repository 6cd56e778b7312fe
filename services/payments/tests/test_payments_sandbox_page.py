"""The sandbox's payment page as a browser uses it (issue 15 point 8): the page's Pay and Fail
buttons post its form (`application/x-www-form-urlencoded`). Before, the sandbox read the form
with Starlette's `request.form()`, which needs python-multipart (not installed), and answered
HTTP 500 to both buttons."""

from __future__ import annotations

import html.parser
from collections.abc import AsyncIterator

import httpx
import pytest
from payments.adapters.gateways.sandbox import SandboxGateway
from payments.domain.gateway import PaymentRequest
from payments.sandbox.app import create_app
from payments.sandbox.settings import SandboxSettings
from payments.sandbox.signing import DEV_SECRET
from payments.sandbox.state import Sandbox
from pydantic import SecretStr
from shared.devstack.processes import free_port
from shared.testing.servers import Served, listening


class Forms(html.parser.HTMLParser):
    """The page's forms as a browser reads them: each form's method and its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"method": found.get("method", "get").lower()})
        elif tag == "input" and self.forms and found.get("type") == "hidden":
            self.forms[-1][found["name"]] = found.get("value", "")


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[Served, Sandbox]]:
    port = free_port()
    state = Sandbox()
    state.behaviour.send_callbacks = False  # no shop listens: the page alone is under test
    app = create_app(SandboxSettings(port=port, secret=SecretStr(DEV_SECRET)), state)
    async with listening(app, port) as served:
        yield served, state


@pytest.mark.parametrize(("button", "status"), [(0, "paid"), (1, "failed")])
async def test_the_pages_buttons_settle_the_payment_as_a_browser_posts_them(
    sandbox, button: int, status: str
):
    served, state = sandbox
    adapter = SandboxGateway(served.url, DEV_SECRET, timeout=5)
    try:
        session = await adapter.open_payment(
            PaymentRequest("pay-1", 10_000, "IRR", "", "http://shop.example/callbacks/sandbox")
        )
    finally:
        await adapter.aclose()
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(session.redirect_url)
        assert page.status_code == 200
        forms = Forms()
        forms.feed(page.text)
        form = forms.forms[button]
        method = form.pop("method")
        assert method == "post"
        posted = await browser.post(session.redirect_url, data=form)  # urlencoded, as a browser

    assert posted.status_code == 200, posted.text  # before: 500
    assert f"Payment {status}" in posted.text
    assert state.payments[session.token].status == status
