"""Vandar (وندار) payout adapter: IRR payouts to a payee's IBAN (Sheba) through Vandar's
settlement (تسویه) API. Payouts only: Vandar takes no payments through this adapter.

Why Vandar: it publishes a settlement API that pays any Iranian IBAN from the business's Vandar
wallet, takes a client-side `track_id` that must be unique per settlement (so a retried request
cannot pay twice), and reports each settlement's state (INIT, PENDING, DONE, FAILED, CANCELED).

Sources:
- https://vandarpay.github.io/docs/settlement/ (Vandar's own docs; their source is the GitHub
  repository vandarpay/docs, settlement/index.html, last change 1401/07/25): the store request
  `POST {api}/v3/business/{business}/settlement/store` and its fields (`amount` *in toman*, at
  least 5000 and at most the wallet's balance; `iban`; `track_id` required, unique per
  settlement, case-sensitive, a UUID suggested; `description` up to 256 characters;
  `is_instant`; `type` ACH, the default, paid in PAYA cycles, or A2A), its answer
  `{"status": 1, "data": {"settlement": [{"id", "transaction_id", "amount" (rials),
  "amount_toman", "status", "settlement_done_time_prediction", …}]}}`, the settlement
  statuses, and the failed answer `{"status": 0, "error": "Unauthenticated"}`.
- https://vandarpay.github.io/docs/settlement/#cancel (the same page, "لغو یک تسویه", cancel a
  settlement): a settlement that is under way or FAILED can be cancelled with
  `DELETE {api}/v2.1/business/{business}/settlement/{transaction_id}` (the page prints
  `business{business}`, without the slash every other path has), answered
  `{"status": 1, "message": "…از دستور پرداخت خارج شد و وجه تسویه به حساب شما برگشت داده شد"}`
  (taken out of the payment order, its money returned to the business wallet) or a 4xx
  `{"status": 0, "error": …}`; an instant settlement cannot be cancelled. The page says nothing of
  what cancelling an already cancelled settlement answers.
- https://vandarpay.github.io/docs/auth/: `Authorization: Bearer <access token>`; a token lives
  5 days and is renewed with its refresh token (`POST /v3/refreshtoken`).
- https://vandarpay.github.io/docs/errors/: 401 no or invalid token, 403 no permission,
  404, 422 a field is wrong, 429 too many requests, 500, 503 offline for maintenance.
- https://vandarpay.github.io/docs/subscription/ and /docs/cash-in/: the 422 validation shape
  `{"message": "The given data was invalid.", "errors": {"<field>": ["…"]}}`, and the answer to
  a duplicate `track_id` (a 422 with `errors.track_id`), shown there for withdrawals.
- https://docs.vandar.io/payout_service/settlement/list (the newer site, same API): the settlement
  service; the status query by track id, `GET {api}/v4/business/{business}/settlement/{track_id}`,
  is as listed by the unofficial SDK zarbinco/laravel-vandar's endpoint matrix: its answer shape is
  read tolerantly (see `_settlement_of`).

Money: our IRR amounts are rials; Vandar's settlement `amount` is in toman (10 rials), so an
amount that is not a whole number of toman, or below Vandar's minimum of 5000 toman, is refused
before anything is sent (no money moved).

Idempotency: the `track_id` is a UUIDv5 of the transfer id (`track_id_for`): the same transfer
always sends the same track id, and Vandar refuses a second settlement under it. A retried payout
(after a timeout, a 5xx or a crash) sends the same request again; when Vandar answers that the
track id is taken, the settlement under it is queried and its real state reported. Before any
refusal is believed as definitive, the track id is queried too: a refusal only counts as "no
money moved" when Vandar holds no settlement under our track id.

FAILED is not a decline: Vandar's docs define it only as "met an error", say a FAILED settlement
can still be cancelled, and say its money returns to the business wallet when it is cancelled,
not when it fails; they never say Vandar will not send it to the bank again. Declining it while it
is FAILED would give the money back to the payee's wallet while Vandar might still pay the IBAN:
paid twice. So a FAILED settlement is cancelled (`_cancel`), and the payout is declined only when
Vandar's settlement, queried again after the cancel, is CANCELED: whatever the cancel answered
(done, or a refusal because it was already cancelled, whose wording is undocumented), it is the
settlement's own state that is believed. A cancel that gets no answer, or after which the
settlement is not CANCELED, is unavailable: retried later, the next attempt finds it FAILED and
cancels again, or finds it CANCELED and declines without cancelling; cancelling twice is refused
by Vandar and moves no money, so the cancel is idempotent in effect. A settlement that was paid
after all (DONE) is reported paid. CANCELED (withdrawn, its money back in the business wallet) is
declined at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import httpx

from payments.adapters.gateways.http import gateway_client, post_json, request_json
from payments.adapters.gateways.port import IncomingCallback
from payments.domain.errors import CallbackRejected
from payments.domain.gateway import (
    CallbackClaim,
    GatewayDeclined,
    GatewaySession,
    GatewayUnavailable,
    PaymentRequest,
    Settlements,
    Transfer,
    TransferInProgress,
    UnsupportedByGateway,
    Verification,
)

RIALS_PER_TOMAN: Final = 10
#: the settlement API's documented minimum amount, in toman
MIN_TOMAN: Final = 5_000
DESCRIPTION_MAX: Final = 256
#: the namespace of track ids: uuid5(NAMESPACE_URL, "https://api.vandar.io/settlement/track_id");
#: never change it, or transfers already sent would get new track ids and could be paid twice
TRACK_ID_NAMESPACE: Final = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://api.vandar.io/settlement/track_id"
)

DONE: Final = "DONE"
UNDER_WAY: Final = frozenset({"INIT", "PENDING"})
#: the settlement met an error; not final: it can still be cancelled (`VandarGateway._cancel`)
FAILED: Final = "FAILED"
#: the settlement was withdrawn and its money returned to the business wallet: no money moved
CANCELED: Final = "CANCELED"


def track_id_for(transfer_id: str) -> str:
    """Vandar's track id of a transfer: the same for every attempt, a UUID as Vandar suggests
    (whatever the length or characters of our transfer ids), lower-case (track ids are
    case-sensitive)."""
    return str(uuid.uuid5(TRACK_ID_NAMESPACE, transfer_id))


def toman_of(transfer: Transfer) -> int:
    """The transfer's amount in Vandar's unit; refused (no money moved) when it cannot be paid."""
    if transfer.currency != "IRR":
        raise UnsupportedByGateway(f"vandar pays IRR only, not {transfer.currency}")
    if transfer.amount % RIALS_PER_TOMAN:
        raise GatewayDeclined(
            f"vandar settles whole toman: {transfer.amount} rials is not a multiple of 10"
        )
    toman = transfer.amount // RIALS_PER_TOMAN
    if toman < MIN_TOMAN:
        raise GatewayDeclined(
            f"vandar settles at least {MIN_TOMAN} toman ({MIN_TOMAN * RIALS_PER_TOMAN} rials),"
            f" not {transfer.amount} rials"
        )
    return toman


class VandarGateway:
    name = "vandar"

    def __init__(
        self,
        business: str,
        access_token: str,
        *,
        api_url: str = "https://api.vandar.io",
        timeout: float = 10.0,
    ) -> None:
        #: the business's English name in the Vandar dashboard, the `{business}` of every path
        self.business = business
        self.access_token = access_token
        self.api_url = api_url.rstrip("/")
        self.http = gateway_client(timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- payouts ---------------------------------------------------------------------------

    async def payout(self, transfer: Transfer) -> str:
        toman = toman_of(transfer)
        track_id = track_id_for(transfer.transfer_id)
        status, answer = await post_json(
            self.http,
            f"{self.api_url}/v3/business/{self.business}/settlement/store",
            {
                "amount": toman,
                "iban": transfer.destination.replace(" ", "").upper(),
                "track_id": track_id,
                "description": f"payout {transfer.transfer_id}"[:DESCRIPTION_MAX],
            },
            headers=self._auth(),
        )
        if status == 200:
            settlement = _settlement_of(answer)
            if settlement is None:
                raise GatewayUnavailable(f"vandar stored a settlement but answered {answer!r}")
            return await self._outcome(settlement, toman, track_id)
        _raise_if_not_ours_to_judge(status, answer)
        errors = _validation_errors(answer) if status == 422 else {}
        if "track_id" in errors:
            # a settlement exists under this track id: an earlier attempt of this transfer
            return await self._known_outcome(track_id, toman, answer)
        if "iban" in errors:
            # the payee's IBAN is wrong: definitive, unless an earlier attempt got through
            if (settlement := await self._settlement(track_id)) is not None:
                return await self._outcome(settlement, toman, track_id)
            raise GatewayDeclined(f"vandar refused the IBAN: {_messages(errors['iban'])}")
        if "amount" in errors:
            # Our amount passed the documented minimum, so this is the other amount rule: at
            # most the business wallet's balance. An empty merchant wallet is no fault of the
            # payee and is fixed by topping it up: retried, never a reason to give up.
            raise GatewayUnavailable(
                f"vandar refused the amount ({_messages(errors['amount'])}): is the business"
                " wallet short? top it up"
            )
        raise GatewayUnavailable(f"vandar settlement store answered {status}: {answer!r}")

    async def _known_outcome(self, track_id: str, toman: int, refusal: Any) -> str:
        settlement = await self._settlement(track_id)
        if settlement is None:
            # taken, yet not found: believe neither answer, ask again later
            raise GatewayUnavailable(
                f"vandar says track id {track_id} is taken ({refusal!r}) but finds no settlement"
            )
        return await self._outcome(settlement, toman, track_id)

    async def _outcome(self, settlement: Mapping[str, Any], toman: int, track_id: str) -> str:
        """The reference of a done settlement; otherwise the error its state means, once a
        FAILED one is cancelled."""
        if _state_of(settlement, toman) == FAILED:
            return await self._cancel(settlement, toman, track_id)
        return _outcome(settlement, toman)

    async def _cancel(self, settlement: Mapping[str, Any], toman: int, track_id: str) -> str:
        """Cancel a FAILED settlement, then believe only its state queried again: declined when
        CANCELED (its money is back in the business wallet), unavailable when still FAILED."""
        transaction_id = settlement.get("transaction_id")
        if transaction_id in (None, ""):
            raise GatewayUnavailable(
                f"vandar settlement under track id {track_id} is FAILED but carries no"
                " transaction_id to cancel it by"
            )
        url = f"{self.api_url}/v2.1/business/{self.business}/settlement/{transaction_id}"
        try:
            response = await self.http.delete(url, headers=self._auth())
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(
                f"vandar settlement {transaction_id} is FAILED; no answer to its cancel from"
                f" {url}: {exc!r}"
            ) from exc
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text[:200]
        if response.status_code >= 500:
            raise GatewayUnavailable(
                f"vandar settlement {transaction_id} is FAILED; its cancel answered"
                f" {response.status_code}: {answer!r}"
            )
        _raise_if_not_ours_to_judge(response.status_code, answer)
        # Done, refused as already cancelled, or refused for a reason we cannot read: whatever
        # the answer, the settlement's state says whether it is cancelled.
        after = await self._settlement(track_id)
        if after is None:
            raise GatewayUnavailable(
                f"vandar settlement {transaction_id} is FAILED; after its cancel (answered"
                f" {response.status_code}: {answer!r}) vandar finds no settlement"
            )
        state = _state_of(after, toman)
        if state == CANCELED:
            raise GatewayDeclined(
                f"vandar settlement {transaction_id} FAILED and is now CANCELED: its money is"
                " back in the business wallet"
            )
        if state == FAILED:
            raise GatewayUnavailable(
                f"vandar settlement {transaction_id} is FAILED and its cancel did not take"
                f" (answered {response.status_code}: {answer!r}): cancelled again when retried"
            )
        return _outcome(after, toman)

    async def _settlement(self, track_id: str) -> Mapping[str, Any] | None:
        """The settlement under our track id, None when Vandar has none."""
        url = f"{self.api_url}/v4/business/{self.business}/settlement/{track_id}"
        status, answer = await request_json(self.http, "GET", url, headers=self._auth())
        if status == 404:
            return None
        _raise_if_not_ours_to_judge(status, answer)
        settlement = _settlement_of(answer) if status == 200 else None
        if settlement is None:
            raise GatewayUnavailable(f"{url} answered {status}: {answer!r}")
        return settlement

    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}

    # --- what Vandar's settlement API does not do ------------------------------------------

    async def open_payment(self, request: PaymentRequest) -> GatewaySession:
        raise UnsupportedByGateway("the vandar adapter sends payouts only")

    def read_callback(self, callback: IncomingCallback) -> CallbackClaim:
        raise CallbackRejected("the vandar adapter takes no payments, so no payment callbacks")

    async def verify(self, token: str, amount: int, currency: str) -> Verification:
        raise UnsupportedByGateway("the vandar adapter sends payouts only")

    async def inquire(self, token: str, amount: int, currency: str) -> Verification:
        raise UnsupportedByGateway("the vandar adapter sends payouts only")

    async def unverified(self) -> Sequence[str]:
        return []

    async def settled(self, since: datetime, until: datetime) -> Settlements:
        """Vandar takes no payments here: nothing, completely (no call is made)."""
        return Settlements((), complete=True)

    async def refund(self, transfer: Transfer) -> str:
        raise UnsupportedByGateway("the vandar adapter sends payouts only")


def _raise_if_not_ours_to_judge(status: int, answer: Any) -> None:
    """Answers that say nothing about the settlement: our configuration or Vandar's load."""
    if status == 401:
        raise GatewayUnavailable(
            f"vandar refused the access token (401 {answer!r}): configuration — tokens live"
            " 5 days and must be renewed with the refresh token"
        )
    if status == 403:
        raise GatewayUnavailable(
            f"vandar's access token may not settle for business (403 {answer!r}): configuration"
        )
    if status == 429:
        raise GatewayUnavailable(f"vandar is rate-limiting us (429 {answer!r})")


def _reference_of(settlement: Mapping[str, Any]) -> str:
    return str(settlement.get("transaction_id") or settlement.get("id") or "")


def _state_of(settlement: Mapping[str, Any], toman: int) -> str:
    """The settlement's state, once it is known to be for our amount (one for another amount is
    never acted on, not even cancelled)."""
    sent = settlement.get("amount_toman")
    if sent is not None and str(sent) != str(toman):
        raise GatewayUnavailable(
            f"vandar settlement {_reference_of(settlement)} is for {sent} toman, not {toman}:"
            " needs a person"
        )
    return str(settlement.get("status", "")).upper()


def _outcome(settlement: Mapping[str, Any], toman: int) -> str:
    """The reference of a done settlement; otherwise the error its state means. FAILED is
    unavailable here: only `VandarGateway._cancel` turns it into a decline."""
    reference = _reference_of(settlement)
    state = _state_of(settlement, toman)
    if state == DONE and reference:
        return reference
    if state in UNDER_WAY:
        expected = settlement.get("settlement_done_time_prediction")
        raise TransferInProgress(
            f"vandar settlement {reference} is {state}"
            + (f", expected by {expected}" if expected else "")
        )
    if state == CANCELED:
        raise GatewayDeclined(
            f"vandar settlement {reference} is CANCELED: its money is back in the business wallet"
        )
    if state == FAILED:
        raise GatewayUnavailable(f"vandar settlement {reference} is FAILED and not yet cancelled")
    raise GatewayUnavailable(f"vandar settlement {reference} is in an unknown state {state!r}")


def _settlement_of(answer: Any) -> Mapping[str, Any] | None:
    """The settlement in an answer: `data.settlement` is a one-element list in the store answer;
    the query's answer may carry it as an object, or as `data` itself."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        return None
    found = data.get("settlement", data)
    if isinstance(found, list):
        found = found[0] if len(found) == 1 else None
    return found if isinstance(found, dict) and "status" in found else None


def _validation_errors(answer: Any) -> dict[str, Any]:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return errors if isinstance(errors, dict) else {}


def _messages(value: Any) -> str:
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)
