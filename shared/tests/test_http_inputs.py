"""`shared.http`, the one way the services take ids and parameters from a request: a path id no
row can have is `NoSuchId` (404), a query parameter not of its form `BadInput` (400), answered
in JSON without the value refused."""

from urllib.parse import quote, urlencode

import httpx
import pytest
from shared.http import (
    BIGINT_MAX,
    MAX_ID_LENGTH,
    BadInput,
    NoSuchId,
    answers_bad_input,
    path_id,
    path_integer_id,
    query_limit,
    query_text,
    query_texts,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router


def request(path_params: dict[str, str] | None = None, **query: str) -> Request:
    scope = {"type": "http", "path_params": path_params or {}, "headers": []}
    return Request({**scope, "query_string": urlencode(query).encode()})


@pytest.mark.parametrize("value", ["e-1", "x" * MAX_ID_LENGTH, "قرارداد ۱", "a b\tc"])
def test_a_path_id_any_row_may_have_is_taken(value):
    assert path_id(request({"escrow_id": value}), "escrow_id") == value


@pytest.mark.parametrize("value", ["\x00", "e-1\x00", "x" * (MAX_ID_LENGTH + 1), "\udc80"])
def test_a_path_id_no_row_can_have_is_not_found(value):
    with pytest.raises(NoSuchId, match="escrow_id"):
        path_id(request({"escrow_id": value}), "escrow_id")


@pytest.mark.parametrize(("value", "number"), [("1", 1), ("007", 7), (str(BIGINT_MAX), BIGINT_MAX)])
def test_an_integer_id_within_bigint_is_taken(value, number):
    assert path_integer_id(request({"delivery_id": value}), "delivery_id") == number


@pytest.mark.parametrize(
    "value", [str(BIGINT_MAX + 1), "9" * 5000, "0", "000", "-1", "+1", "1.0", "1e3", "abc", "²", ""]
)
def test_an_integer_id_beyond_bigint_or_not_a_number_is_not_found(value):
    with pytest.raises(NoSuchId, match="delivery_id"):
        path_integer_id(request({"delivery_id": value}), "delivery_id")


def test_query_text_is_none_when_absent_and_kept_as_given_when_present():
    assert query_text(request(), "party") is None
    assert query_text(request(party=""), "party") == ""
    assert query_text(request(party="x" * MAX_ID_LENGTH), "party") == "x" * MAX_ID_LENGTH


@pytest.mark.parametrize("value", ["\x00", "p\x00", "x" * (MAX_ID_LENGTH + 1)])
def test_query_text_with_a_nul_or_too_long_is_malformed(value):
    with pytest.raises(BadInput, match="party") as refused:
        query_text(request(party=value), "party")
    assert type(refused.value) is BadInput and refused.value.status_code == 400
    with pytest.raises(BadInput, match="party"):
        query_texts(request(state="open", party=value))


def test_query_texts_are_every_parameter():
    assert query_texts(request(Authority="A00", Status="OK")) == {
        "Authority": "A00",
        "Status": "OK",
    }


@pytest.mark.parametrize(("value", "limit"), [(None, 100), ("1", 1), ("500", 500), ("0042", 42)])
def test_a_limit_from_1_to_the_maximum_is_taken(value, limit):
    given = request() if value is None else request(limit=value)
    assert query_limit(given) == limit


@pytest.mark.parametrize(
    "value", ["0", "501", "-5", "abc", "", "1.5", "²", "99999999999999999999", "1" * 5000]
)
def test_any_other_limit_is_malformed(value):
    with pytest.raises(BadInput, match="limit must be an integer from 1 to 500"):
        query_limit(request(limit=value))


async def test_an_endpoint_answers_its_refusals_in_json_without_the_value():
    @answers_bad_input
    async def endpoint(request: Request) -> Response:
        return JSONResponse({"id": path_id(request, "id"), "limit": query_limit(request)})

    app = Router(routes=[Route("/things/{id}", endpoint)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    hostile = "y" * 300
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        taken = await http.get("/things/t-1?limit=5")
        missing = await http.get(f"/things/{quote(hostile)}")
        malformed = await http.get("/things/t-1?limit=-5")

    assert (taken.status_code, taken.json()) == (200, {"id": "t-1", "limit": 5})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert hostile not in missing.text
    assert (malformed.status_code, malformed.json()["error"]) == (400, "malformed")
    assert set(malformed.json()) == {"error", "message"}
