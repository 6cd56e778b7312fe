"""`make demo`: a short marketplace story, played through `escrowctl` against `make run`.

Sara hires Reza twice. The first job goes well: a secure payment, delivery, release in two
parts, a payout to Reza's bank. The second goes wrong: Reza delivers, Sara goes silent, Reza
asks for arbitration and an arbiter splits the money. Then the books are reconciled.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import uuid
from typing import Any

import click

SARA, REZA, ARBITER, ADMIN = "sara", "reza", "arbiter-maryam", "admin-ali"
SHEBA = "IR820540102680020817909002"


def run(*args: str) -> tuple[int, str]:
    """Run one `escrowctl` command in this process (as the shell would run it, without a new
    interpreter and its imports per step): its exit code and what it printed."""
    from shared.cli.main import app  # the whole CLI with the services' commands plugged in

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = app(list(args), standalone_mode=False)
    except SystemExit as exited:
        code = exited.code
    except click.ClickException as refused:
        return 2, refused.format_message()
    return (code if isinstance(code, int) else 0 if code is None else 1), printed.getvalue()


def escrowctl(*args: str) -> Any:
    """What one `escrowctl` command printed, parsed if JSON; the demo stops if it failed."""
    code, printed = run(*args)
    if code:
        sys.exit(f"\n  escrowctl {' '.join(args)} failed:\n{printed}")
    try:
        return json.loads(printed)
    except json.JSONDecodeError:
        return printed


def step(text: str, *args: str) -> Any:
    print(f"• {text}", flush=True)
    answer = escrowctl(*args)
    if isinstance(answer, dict) and answer.get("status") == "accepted":
        print("    accepted", flush=True)
    return answer


def wait_for_state(escrow_id: str, state: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        escrow: dict[str, Any] = escrowctl("escrow", "show", escrow_id)["escrow"]
        if escrow["state"] == state:
            print(f"    escrow {escrow_id} is {state}: held {escrow['held']:,} rials", flush=True)
            return escrow
        time.sleep(0.5)
    sys.exit(f"escrow {escrow_id} did not become {state}")


def wait_for_wallet(user: str, minimum: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        balance = int(escrowctl("wallet", user)["balances"].get("IRR", 0))
        if balance >= minimum:
            return balance
        time.sleep(0.5)
    sys.exit(f"{user}'s wallet never reached {minimum:,}")


def good_job(run: str) -> None:
    contract, escrow = f"demo-{run}-website", f"demo-{run}-website-1"
    print("\n— A job that goes well —", flush=True)
    step(
        "Sara and Reza are in the marketplace's directory (so they get emails)",
        "contact",
        SARA,
        "--email",
        "sara@example.org",
        "--language",
        "fa",
    )
    escrowctl("contact", REZA, "--email", "reza@example.org", "--language", "en")
    step(
        "Sara opens a contract with Reza for a website, agreed price 50,000,000 rials",
        "escrow",
        "open-contract",
        contract,
        REZA,
        "IRR",
        "--agreed",
        "50000000",
        "--as",
        SARA,
    )
    step(
        "Sara puts 20,000,000 rials of it into escrow (a secure payment)",
        "escrow",
        "create",
        escrow,
        contract,
        "20000000",
        "--as",
        SARA,
    )
    step(
        "Sara pays at the (sandbox) gateway", "pay", "20000000", "--escrow", escrow, "--payer", SARA
    )
    wait_for_state(escrow, "funded")
    step("Reza delivers the first version", "escrow", "deliver", escrow, "--as", REZA)
    step(
        "Sara is happy with part of it and releases 5,000,000 rials",
        "escrow",
        "release",
        escrow,
        "--amount",
        "5000000",
        "--as",
        SARA,
    )
    step("…and after the last fixes releases the rest", "escrow", "release", escrow, "--as", SARA)
    wait_for_state(escrow, "released")
    balance = wait_for_wallet(REZA, 18_000_000)
    print(f"    Reza's wallet: {balance:,} rials (10% commission went to the platform)")
    payout = step(
        "Reza sends 18,000,000 rials to his bank account (Sheba)", "payout", REZA, "18000000", SHEBA
    )
    print(f"    {payout.get('event', payout)}: {payout.get('amount', 0):,} rials", flush=True)


def disputed_job(run: str) -> None:
    contract, escrow, dispute = f"demo-{run}-logo", f"demo-{run}-logo-1", f"demo-{run}-dispute"
    print("\n— A job that needs an arbiter (داوری) —", flush=True)
    step(
        "Sara opens a second contract with Reza, for a logo",
        "escrow",
        "open-contract",
        contract,
        REZA,
        "IRR",
        "--as",
        SARA,
    )
    step(
        "Reza asks for a secure payment of 8,000,000 rials",
        "escrow",
        "request",
        escrow,
        contract,
        "8000000",
        "--kind",
        "instant",
        "--as",
        REZA,
    )
    step("Sara accepts the request", "escrow", "accept", escrow, "--as", SARA)
    step("…and pays it", "pay", "8000000", "--escrow", escrow, "--payer", SARA)
    wait_for_state(escrow, "funded")
    step("Reza delivers the logo", "escrow", "deliver", escrow, "--as", REZA)
    print("• Sara neither releases nor answers…", flush=True)
    step(
        "Reza asks for arbitration",
        "dispute",
        "open",
        dispute,
        escrow,
        "not_released",
        "Delivered on time; no answer since.",
        "--as",
        REZA,
    )
    wait_for_state(escrow, "disputed")
    step(
        "Reza proposes he keeps everything", "dispute", "propose", dispute, "8000000", "--as", REZA
    )
    step(
        "Sara counter-proposes 2,000,000 for Reza",
        "dispute",
        "propose",
        dispute,
        "2000000",
        "--as",
        SARA,
        "--role",
        "employer",
    )
    step("No agreement: Reza sends it to arbitration", "dispute", "escalate", dispute, "--as", REZA)
    step("The admin assigns arbiter Maryam", "dispute", "assign", dispute, ARBITER, "--as", ADMIN)
    step(
        "Maryam rules 5,000,000 to Reza and 3,000,000 back to Sara",
        "dispute",
        "verdict",
        dispute,
        "5000000",
        "3000000",
        "--as",
        ARBITER,
        "--rationale",
        "The logo was delivered but missed two agreed variants.",
    )
    settled = wait_for_state(escrow, "settled")
    print(f"    fee on Reza's share only: {settled['fees_charged']:,} rials", flush=True)


def balances() -> None:
    print("\n— Final balances —", flush=True)
    for user in (SARA, REZA):
        wallet = escrowctl("wallet", user)
        print(f"  {user:<6} wallet: {int(wallet['balances'].get('IRR', 0)):>14,} rials")
    print("\n— escrowctl reconcile —", flush=True)
    # the last messages (the employer's refund) may still be on their way: the books are read
    # again until they close, for a minute at most
    deadline = time.monotonic() + 60
    while (books := run("reconcile"))[0] and time.monotonic() < deadline:
        time.sleep(1)
    code, printed = books
    print(printed, flush=True)
    print("Emails the parties received are in var/logs/mail.log.")
    if code:
        sys.exit("the books do not reconcile")


def main() -> None:
    run = uuid.uuid4().hex[:6]  # the demo can be played again against the same suite
    good_job(run)
    disputed_job(run)
    wait_for_wallet(REZA, 4_500_000)  # the verdict's share, net of the fee
    balances()


if __name__ == "__main__":
    main()
