"""Who may act on a contract or an escrow: the actor of a command and its guards (DESIGN §1).

Guards compare the actor with the parties the aggregate remembers, so a user acting under the
right role on someone else's escrow is refused just like the wrong role. Arbiters and admins
never move money through escrow commands: theirs go through the disputes service.
"""

from dataclasses import dataclass
from enum import StrEnum

from .errors import Forbidden


class Role(StrEnum):
    EMPLOYER = "employer"
    CONTRACTOR = "contractor"
    ARBITER = "arbiter"
    ADMIN = "admin"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The user a command names, with the role the identity service vouched for."""

    user_id: str
    role: str

    def is_user(self, role: Role, user_id: str) -> bool:
        return self.role == role and self.user_id == user_id


def check_is_employer(actor: Actor, employer_id: str, action: str) -> None:
    if not actor.is_user(Role.EMPLOYER, employer_id):
        raise Forbidden(f"only the employer of this contract may {action}")


def check_is_contractor(actor: Actor, contractor_id: str, action: str) -> None:
    if not actor.is_user(Role.CONTRACTOR, contractor_id):
        raise Forbidden(f"only the contractor of this contract may {action}")


def check_is_party(actor: Actor, employer_id: str, contractor_id: str, action: str) -> None:
    if not (
        actor.is_user(Role.EMPLOYER, employer_id) or actor.is_user(Role.CONTRACTOR, contractor_id)
    ):
        raise Forbidden(f"only the employer or the contractor of this contract may {action}")
