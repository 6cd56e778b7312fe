"""How a dispute's held money is split: settlement proposals between the parties and the verdict.

Both are full splits of the held amount (see `money.check_split`); the employer gets whatever
the contractor does not.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

BY_AGREEMENT: Final = "agreement"  # verdict kind: the parties accepted a settlement proposal
BY_ARBITER: Final = "arbitration"  # verdict kind: the assigned arbiter decided


@dataclass(frozen=True)
class Proposal:
    proposal_no: int
    proposed_by: str
    proposer_role: str
    contractor_amount: int
    employer_amount: int
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal_no": self.proposal_no,
            "proposed_by": self.proposed_by,
            "proposer_role": self.proposer_role,
            "contractor_amount": self.contractor_amount,
            "employer_amount": self.employer_amount,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Verdict:
    kind: str
    contractor_amount: int
    employer_amount: int
    arbiter_id: str | None
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "contractor_amount": self.contractor_amount,
            "employer_amount": self.employer_amount,
            "arbiter_id": self.arbiter_id,
            "at": self.at.isoformat(),
        }
