"""What a party writes in a dispute is required by the schema as the service requires it (issue
15 point 6): before, OpenDispute's `statement` was optional (default "") in the published schema
while the disputes service refused it blank (`malformed`, "a statement needs some text")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from shared.contract.disputes import OpenDispute, SubmitStatement

ACTOR = {"user_id": "emp-1", "role": "employer"}
OPEN = {"actor": ACTOR, "dispute_id": "d-1", "escrow_id": "e-1", "reason": "quality"}


@pytest.mark.parametrize(
    ("model", "field"), [(OpenDispute, "statement"), (SubmitStatement, "text")]
)
def test_the_schema_requires_some_text(model, field):
    schema = model.model_json_schema()
    assert field in schema["required"]
    text = schema["properties"][field]
    assert (text["minLength"], text["pattern"]) == (1, r"\S")


@pytest.mark.parametrize("statement", [None, "", "   \n\t"])
def test_an_open_dispute_without_a_statement_is_malformed_before_the_service_sees_it(statement):
    data = OPEN if statement is None else {**OPEN, "statement": statement}
    with pytest.raises(ValidationError):
        OpenDispute.model_validate(data)


def test_an_open_dispute_with_a_statement_is_valid():
    opened = OpenDispute.model_validate({**OPEN, "statement": "Not what was agreed."})
    assert opened.statement == "Not what was agreed."
