"""The case page as one read: the file, its team, its consents, its orientations and its
household, with who the reader is to the case (``access.case_view``) decided once for all
of them instead of once per part."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import NotFound
from engine.persistence.models import Case, Territory
from engine.services import case_messages, cases, consent, households, orientations, team
from engine.services.access import Actor, case_view
from engine.services.results import CaseDetail


@dataclass(frozen=True)
class CasePage:
    """What the case page shows; ``panel`` is None for a reader of the minimal view."""

    detail: CaseDetail
    panel: team.Panel | None
    consents: consent.CaseConsents
    orientations: list[orientations.OrientationItem]
    household: households.HouseholdPanel | None
    # outside answers the case awaits (none for the minimal view): issue #18, item 4
    awaited: list[case_messages.AwaitedMessage] = field(default_factory=list)


def page(session: Session, clock: Clock, actor: Actor, case_id: int) -> CasePage:
    """The case page's parts, as much as the actor reads of each (see the services called).

    :raises NotFound: unknown case, or out of the actor's reach.
    """
    case = session.get(Case, case_id)  # read once: the services below find it in the session
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    # held for the page: the session keeps only objects someone holds, and the parties,
    # the consents and the team panel each read the territory (three statements, not one)
    territory = session.get(Territory, case.territory_id)  # noqa: F841
    view = case_view(session, actor, case_id, case.territory_id, clock.now())
    detail = cases.get(session, clock, actor, case_id, view)
    return CasePage(
        detail=detail,
        panel=None if detail.minimal else team.panel(session, clock, actor, case_id, view),
        consents=consent.of_case(session, clock, actor, case_id, view),
        orientations=orientations.of_case(session, clock, actor, case_id, view),
        household=households.of_case(session, clock, actor, case_id, view),
        awaited=case_messages.awaited(session, clock, actor, case_id, view))
