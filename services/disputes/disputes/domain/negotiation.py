"""Negotiation between the parties: statements, settlement proposals, acceptance, escalation.

An acceptance must name the proposal it accepts and only the latest one counts, so nobody
agrees to terms that changed while they were reading them.
"""

from collections.abc import Sequence
from datetime import datetime

from .actors import Actor
from .errors import Forbidden, InvalidState, NotFound
from .events import SettlementAccepted, SettlementProposed, StatementSubmitted
from .evidence import Evidence, Statement, check_evidence, check_text
from .money import check_share
from .record import DisputeRecord, check_utc
from .settlement import BY_AGREEMENT, Proposal, Verdict
from .states import ARBITRATION, NEGOTIATION


class DisputeNegotiation(DisputeRecord):
    def submit_statement(
        self, actor: Actor, text: str, evidence: Sequence[Evidence], now: datetime
    ) -> Statement:
        check_utc(now)
        self.check_party(actor)
        self.check_state(NEGOTIATION, ARBITRATION)
        statement = Statement(
            len(self.statements) + 1, actor, check_text(text), check_evidence(evidence), now
        )
        self.statements.append(statement)
        self._note_answer(actor)
        submitted = StatementSubmitted(
            **self._event_keys(now),
            statement_no=statement.statement_no,
            author_id=actor.user_id,
            author_role=actor.role,
            evidence=statement.evidence,
        )
        self._step(now, actor, "statement_submitted", statement.as_dict(), submitted)
        return statement

    def propose_settlement(self, actor: Actor, contractor_amount: int, now: datetime) -> Proposal:
        """Offer a split of the held amount: the contractor gets this, the employer the rest."""
        check_utc(now)
        self.check_party(actor)
        self.check_state(NEGOTIATION)
        contractor = check_share(contractor_amount, self.held, "contractor_amount")
        proposal = Proposal(
            len(self.proposals) + 1,
            actor.user_id,
            actor.role,
            contractor,
            self.held - contractor,
            now,
        )
        self.proposals.append(proposal)
        self._note_answer(actor)
        proposed = SettlementProposed(
            **self._event_keys(now),
            proposal_no=proposal.proposal_no,
            proposed_by=actor.user_id,
            proposer_role=actor.role,
            contractor_amount=contractor,
            employer_amount=proposal.employer_amount,
            currency=self.currency,
        )
        self._step(now, actor, "settlement_proposed", proposal.as_dict(), proposed)
        return proposal

    def accept_settlement(self, actor: Actor, proposal_no: int, now: datetime) -> None:
        """The other party agrees: the proposal becomes a verdict of kind `agreement`."""
        check_utc(now)
        proposal = self.check_acceptable(actor, proposal_no)
        accepted = SettlementAccepted(
            **self._event_keys(now),
            proposal_no=proposal_no,
            accepted_by=actor.user_id,
            contractor_amount=proposal.contractor_amount,
            employer_amount=proposal.employer_amount,
            currency=self.currency,
        )
        issued = self._decide(
            Verdict(BY_AGREEMENT, proposal.contractor_amount, proposal.employer_amount, None, now)
        )
        details = {**proposal.as_dict(), "verdict_kind": BY_AGREEMENT}
        self._step(now, actor, "settlement_accepted", details, accepted, issued)

    def check_acceptable(self, actor: Actor, proposal_no: int) -> Proposal:
        """Only the party who did not propose, during negotiation, and only the latest proposal."""
        self.check_party(actor)
        proposal = self._proposal(proposal_no)
        if proposal.proposer_role == actor.role:
            raise Forbidden("only the party who did not propose a settlement may accept it")
        self.check_state(NEGOTIATION)
        if proposal_no != len(self.proposals):
            raise InvalidState(f"proposal {proposal_no} was superseded by a later proposal")
        return proposal

    def escalate(self, actor: Actor, now: datetime) -> None:
        """Either party may send the dispute to arbitration at once."""
        check_utc(now)
        self.check_party(actor)
        self.check_state(NEGOTIATION)
        escalated = self._escalate(now, "party", "party_request", actor.user_id)
        self._step(now, actor, "escalated", {"by": "party", "cause": "party_request"}, escalated)

    def _proposal(self, proposal_no: int) -> Proposal:
        valid = isinstance(proposal_no, int) and not isinstance(proposal_no, bool)
        if not valid or not 1 <= proposal_no <= len(self.proposals):
            raise NotFound(f"no settlement proposal {proposal_no!r}")
        return self.proposals[proposal_no - 1]

    def _note_answer(self, actor: Actor) -> None:
        # The respondent's deadline is met by any statement or proposal of his.
        if actor.role == self.respondent_role:
            self.respondent_answered = True
