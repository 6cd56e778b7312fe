"""What the services' HTTP routes take from a request's path and query, and how they answer the
rest: one way for all four, so that no input reaches a query it would fail (a 500).

A path names one thing, so a path id that no row can have is answered as any id no row has:
404 `not_found`. That is text with a NUL byte or that is not UTF-8 (PostgreSQL's text holds
neither), text longer than any stored id, and an integer id that is not a whole number from 1 to
PostgreSQL's bigint maximum. A query parameter not of its form is 400 `malformed`: such text, or
a `limit` that is not an integer from 1 to its maximum. Answers are JSON,
`{"error": <reason code>, "message": …}`, and never repeat the value refused.

Every read is authenticated: `Authorization: Bearer <actor token>`, the marketplace's JWT that
commands carry, verified the same way (`ActorTokenVerifier`). Without a valid one the answer is
401 `unauthorized`. A reader sees what is theirs (`Reader.sees`); admins see everything; the
operator role reads the ledgers' totals only. Something that is not the reader's is answered as
something that does not exist, 404 `not_found`: an id does not tell whether it exists.

A job that reconciles the books (`escrowctl reconcile`) has no user and no identity service to
ask: it signs its own short tokens with an operator key, whose public half is
`OPERATOR_TOKEN_PUBLIC_KEY`. Such a token is taken for the operator role only, and never for a
command (the runtime knows nothing of that key).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.auth import ActorTokenVerifier, TokenRefused
from shared.contract.base import Actor, Role

#: the longest id any table stores (a refund id carries the key of the posting that caused it)
MAX_ID_LENGTH = 255
#: PostgreSQL's bigint, the type of every integer id
BIGINT_MAX = 2**63 - 1
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

Endpoint = Callable[[Request], Awaitable[Response]]


class BadInput(Exception):
    """A request refused for what it carries, before any query sees it."""

    status_code = 400
    error = "malformed"

    def answer(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "message": str(self)}, self.status_code)


class NoSuchId(BadInput):
    """A path id that no row can have."""

    status_code = 404
    error = "not_found"


class Unauthorized(BadInput):
    """No bearer token, or one that does not verify."""

    status_code = 401
    error = "unauthorized"

    def answer(self) -> JSONResponse:
        answer = super().answer()
        answer.headers["www-authenticate"] = 'Bearer realm="escrow-suite"'
        return answer


class NotTheirs(NoSuchId):
    """Something the reader may not see: answered exactly as something that does not exist."""

    def __init__(self) -> None:
        super().__init__("not found")


@dataclass(frozen=True)
class Reader:
    """Who is reading, from the request's bearer token."""

    actor: Actor

    @property
    def is_admin(self) -> bool:
        return self.actor.role == Role.ADMIN

    def sees(self, *user_ids: str | None) -> bool:
        """Whether the reader may see what belongs to `user_ids` (an admin sees everything; the
        operator and system roles see nobody's)."""
        if self.is_admin:
            return True
        if self.actor.role in (Role.OPERATOR, Role.SYSTEM):
            return False
        return self.actor.user_id in user_ids

    def check_operator(self) -> None:
        """Totals are for admins and the operator role."""
        if not (self.is_admin or self.actor.role == Role.OPERATOR):
            raise NotTheirs()


@dataclass(frozen=True)
class Readers:
    """Whose bearer tokens a service's read API takes."""

    #: the marketplace's actor tokens (the commands' verifier)
    actors: ActorTokenVerifier
    #: tokens of the operator key, for the operator role only (None: no such key)
    operators: ActorTokenVerifier | None = None

    def of(self, request: Request) -> Reader:
        """The request's reader, or `Unauthorized`."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a read needs Authorization: Bearer <actor token>")
        try:
            return Reader(self.actors.actor_of(token))
        except TokenRefused as refused:
            why = str(refused)
        if self.operators is None:
            raise Unauthorized(why)
        try:
            actor = self.operators.actor_of(token)
        except TokenRefused:
            raise Unauthorized(why) from None  # most tokens are the marketplace's: say why not
        if actor.role != Role.OPERATOR:
            raise Unauthorized("the operator key signs operator tokens only")
        return Reader(actor)


def answers_bad_input(endpoint: Endpoint) -> Endpoint:
    """The endpoint, with its `BadInput` refusals answered in JSON."""

    @functools.wraps(endpoint)
    async def checked(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BadInput as refused:
            return refused.answer()

    return checked


def path_id(request: Request, name: str) -> str:
    """The path's text id `name`, or `NoSuchId`."""
    value: str = request.path_params[name]
    if not _storable(value) or len(value) > MAX_ID_LENGTH:
        raise NoSuchId(f"no {name} has a NUL byte or more than {MAX_ID_LENGTH} characters")
    return value


def path_integer_id(request: Request, name: str) -> int:
    """The path's integer id `name` (a bigint identity), or `NoSuchId`."""
    number = whole_number(request.path_params[name], BIGINT_MAX)
    if not number:
        raise NoSuchId(f"every {name} is a whole number from 1 to {BIGINT_MAX}")
    return number


def query_text(request: Request, name: str) -> str | None:
    """The query's text parameter `name` (None when absent), or `BadInput`."""
    value = request.query_params.get(name)
    return None if value is None else _query_value(name, value)


def query_texts(request: Request) -> dict[str, str]:
    """Every query parameter (the last of a repeated one), each taken as `query_text` takes it."""
    return {name: _query_value(name, value) for name, value in request.query_params.items()}


def query_limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """The query's `limit` (`default` when absent), or `BadInput`."""
    value = request.query_params.get("limit")
    if value is None:
        return default
    number = whole_number(value, maximum)
    if not number:
        raise BadInput(f"limit must be an integer from 1 to {maximum}")
    return number


def _query_value(name: str, value: str) -> str:
    if not _storable(value) or len(value) > MAX_ID_LENGTH:
        raise BadInput(f"{name} must be text without NUL bytes, at most {MAX_ID_LENGTH} characters")
    return value


def _storable(value: str) -> bool:
    """Whether PostgreSQL can compare `value` with its text: UTF-8 (asyncpg encodes every
    parameter so), no NUL."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def whole_number(value: str, ceiling: int) -> int | None:
    """`value` as a number if it is ASCII digits naming at most `ceiling`, else None. The
    digits are counted first: int() refuses to read more than 4,300 of them."""
    if not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(ceiling)) or int(digits) > ceiling:
        return None
    return int(digits)
