"""Who may act on a dispute: the actor of a command and the roles of the suite (DESIGN §1)."""

from dataclasses import dataclass
from typing import Final

EMPLOYER: Final = "employer"
CONTRACTOR: Final = "contractor"
ARBITER: Final = "arbiter"
ADMIN: Final = "admin"
SYSTEM: Final = "system"

ROLES: Final = frozenset({EMPLOYER, CONTRACTOR, ARBITER, ADMIN, SYSTEM})
PARTY_ROLES: Final = frozenset({EMPLOYER, CONTRACTOR})


@dataclass(frozen=True)
class Actor:
    """The user a command names, with the role the identity service vouched for."""

    user_id: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"user_id": self.user_id, "role": self.role}


# Timers and saga replies (escrow facts) are the suite acting on its own behalf.
SYSTEM_ACTOR: Final = Actor(user_id="system", role=SYSTEM)


def other_party(role: str) -> str:
    """The party role opposite to `role` (employer <-> contractor)."""
    return CONTRACTOR if role == EMPLOYER else EMPLOYER
