"""Who the caller is and what they may do: memberships by territory, checked here only."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from engine.core.consent import ALL_CATEGORIES, DEFAULT_CATEGORY, IDENTITY
from engine.errors import NotFound, PermissionDenied
from engine.persistence.models import (
    CaseConsent,
    CaseParty,
    CommissionSession,
    HumanTask,
    Membership,
    User,
)
from engine.persistence.models.case import Case
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.user import ADMIN_ROLE, COORDINATOR_ROLE


@dataclass(frozen=True)
class Actor:
    """The signed-in person (or the system) and their roles per territory."""

    user_id: int | None
    roles: dict[int, frozenset[str]] = field(default_factory=dict)
    organisations: dict[int, frozenset[int]] = field(default_factory=dict)
    name: str = "système"
    # an API key's technical account (``api_keys.authenticate``): its rights (``read``,
    # ``write``) and the circuits it reaches; None for a person (no limit) or every circuit
    scopes: frozenset[str] | None = None
    circuits: frozenset[int] | None = None
    api_key_id: int | None = None  # the key presented (its rate limit: api_keys.check_rate)

    @property
    def is_system(self) -> bool:
        """True for the scheduler and command-line tools."""
        return self.user_id is None

    def roles_in(self, territory_id: int) -> frozenset[str]:
        """Lane roles (and ``admin``) held in a territory."""
        return self.roles.get(territory_id, frozenset())

    def territories(self) -> list[int]:
        """Territories where the actor holds any role."""
        return sorted(self.roles)

    def is_member(self, territory_id: int) -> bool:
        """True if the actor works in the territory (or is the system)."""
        return self.is_system or bool(self.roles_in(territory_id))

    def is_coordinator(self, territory_id: int) -> bool:
        """Coordinators (and administrators) assign work and manage circuits."""
        return self.is_system or bool(self.roles_in(territory_id) & {COORDINATOR_ROLE, ADMIN_ROLE})

    def is_admin(self, territory_id: int) -> bool:
        """Administrators repair cases and manage users."""
        return self.is_system or ADMIN_ROLE in self.roles_in(territory_id)


SYSTEM = Actor(user_id=None)

# --------------------------------------------------------------------------- the visibility rule
#
# A person reads a case if they coordinate (or administer) its territory: all of it. Else if
# an organisation of theirs is a current party to the case: the data categories the
# household's consent covers for that party's part (none yet: the minimal view). Else if
# they must act on one of its open steps (assigned to them, or offered to their role and, for
# a lane bound to a part, to their organisation): the minimal view. Else: not found.
# The minimal view is the case reference, its status and the steps to act on: no name, no
# answer. ``case_scope`` and ``name_shown`` are the same rule in SQL, for lists.


@dataclass(frozen=True)
class View:
    """How much of one case a person reads."""

    categories: frozenset[str]  # the data categories they read
    whole: bool = False  # coordination, administration or the system: everything

    @property
    def minimal(self) -> bool:
        """Reference, status and the steps to act on only."""
        return not self.categories

    @property
    def shows_name(self) -> bool:
        """The household's name (identity) is readable."""
        return IDENTITY in self.categories

    def sees(self, category: str) -> bool:
        """Is a data category readable?"""
        return category in self.categories

    def shown(self, data: Mapping[str, Any],
              field_categories: Mapping[str, frozenset[str]]) -> dict[str, Any]:
        """The case data this reader sees: each key whose every category is covered (a key
        two forms file under different categories needs both; a key no form declares is of
        the default category). ``field_categories`` comes from ``data_categories``."""
        if self.whole:
            return dict(data)
        default = frozenset({DEFAULT_CATEGORY})
        return {k: v for k, v in data.items()
                if field_categories.get(k, default) <= self.categories}


_CATEGORIES: dict[int, tuple[object, dict[str, frozenset[str]]]] = {}
_CATEGORIES_SIZE = 256


def data_categories(circuit: Any) -> dict[str, frozenset[str]]:
    """Data key → the categories the forms of a compiled circuit file it under (merged over
    its forms; cached per compiled circuit, which the runtime caches per version)."""
    hit = _CATEGORIES.get(id(circuit))
    if hit is not None and hit[0] is circuit:
        return hit[1]
    merged: dict[str, set[str]] = {}
    for form in circuit.forms.values():
        for name, category in form.categories().items():
            merged.setdefault(name, set()).add(category)
    result = {k: frozenset(v) for k, v in merged.items()}
    if len(_CATEGORIES) >= _CATEGORIES_SIZE:
        _CATEGORIES.clear()
    _CATEGORIES[id(circuit)] = (circuit, result)
    return result


WHOLE = View(ALL_CATEGORIES, whole=True)
NOTHING_YET = View(frozenset())  # the minimal view


def case_view(session: Session, actor: Actor, case_id: int, territory_id: int,
              now: datetime) -> View:
    """The rule, for one case (two small indexed reads for a partner, none for coordination).

    :raises NotFound: the case is out of the actor's reach (no existence leak).
    """
    if actor.circuits is not None and session.scalar(
            select(Case.circuit_id).where(Case.id == case_id)) not in actor.circuits:
        raise NotFound(code="svc.case_not_found")  # an API key limited to other circuits
    if actor.is_system or actor.is_coordinator(territory_id):
        return WHOLE
    orgs = actor.organisations.get(territory_id, frozenset())
    parts = list(session.scalars(select(CaseParty.part).where(
        CaseParty.case_id == case_id, CaseParty.until.is_(None),
        CaseParty.organisation_id.in_(sorted(orgs))))) if orgs else []
    if parts:
        categories = session.scalars(select(CaseConsent.category).distinct().where(
            CaseConsent.case_id == case_id, CaseConsent.part.in_(parts), _consent_active(now)))
        return View(frozenset(categories))
    if session.scalar(select(exists().where(HumanTask.case_id == case_id,
                                            HumanTask.status == TaskStatus.OPEN,
                                            acts_on(actor, territory_id)))):
        return NOTHING_YET
    raise NotFound(code="svc.case_not_found")


def _consent_active(now: datetime) -> ColumnElement[bool]:
    return and_(CaseConsent.withdrawn_at.is_(None), CaseConsent.given_at <= now,
                or_(CaseConsent.valid_until.is_(None), CaseConsent.valid_until > now))


def acts_on(actor: Actor, territory_id: int) -> ColumnElement[bool]:
    """SQL: an open step of ``human_task`` the actor must act on (assigned to them, or offered
    to one of their roles: across the territory for a lane bound to no part, to their
    organisation for a bound one)."""
    roles = sorted(actor.roles_in(territory_id))
    orgs = sorted(actor.organisations.get(territory_id, frozenset()))
    offered = and_(HumanTask.assignee_id.is_(None), HumanTask.territory_id == territory_id,
                   HumanTask.role.in_(roles),
                   or_(HumanTask.part.is_(None), HumanTask.organisation_id.in_(orgs))
                   if orgs else HumanTask.part.is_(None))
    if actor.user_id is None:
        return offered
    mine = or_(HumanTask.assignee_id == actor.user_id, offered)
    if actor.circuits is not None:
        return and_(mine, HumanTask.circuit_id.in_(sorted(actor.circuits)))
    return mine


SPARSE_PARTIES = 2000  # up to here, a list reads the organisation's cases first


def case_scope(actor: Actor, territory_id: int, case_id: Any,
               session: Session | None = None) -> ColumnElement[bool]:
    """SQL: the cases of a territory the actor may find in a list (``case_id`` is the list's
    case id column): all of them for coordination, else those an organisation of theirs is a
    current party to.

    Two shapes of the same rule, for speed. Given a ``session``, an organisation that is
    party to more than ``SPARSE_PARTIES`` cases gets a correlated ``EXISTS``: the list walks
    its index newest first and stops at the page's end (the organisation is in most of the
    rows it reads). Otherwise ``IN``: the organisation's few cases are read first, on the
    parties' index, then sorted (walking the whole list for them would cost more)."""
    if actor.circuits is not None:  # an API key limited to some circuits
        return and_(_of_circuits(actor.circuits, case_id),
                    _case_scope(replace(actor, circuits=None), territory_id, case_id, session))
    return _case_scope(actor, territory_id, case_id, session)


def _case_scope(actor: Actor, territory_id: int, case_id: Any,
                session: Session | None) -> ColumnElement[bool]:
    if actor.is_system or actor.is_coordinator(territory_id):
        return true()
    orgs = sorted(actor.organisations.get(territory_id, frozenset()))
    if not orgs:
        return false()
    current = and_(CaseParty.organisation_id.in_(orgs), CaseParty.until.is_(None))
    if session is not None and _dense(session, current):
        return exists().where(CaseParty.case_id == case_id, current)
    within: ColumnElement[bool] = case_id.in_(select(CaseParty.case_id).where(current))
    return within


def _of_circuits(circuits: frozenset[int], case_id: Any) -> ColumnElement[bool]:
    """SQL: the row's case is of one of ``circuits`` (on the case's own column when the list
    reads ``case``, else through a sub-select)."""
    ids = sorted(circuits)
    if getattr(case_id, "table", None) is Case.__table__ and case_id.key == "id":
        return Case.circuit_id.in_(ids)
    inside: ColumnElement[bool] = case_id.in_(select(Case.id).where(Case.circuit_id.in_(ids)))
    return inside


def party_cases(actor: Actor, territory_id: int) -> Select[Any]:
    """SQL: the ids of the cases an organisation of a non-coordinating actor is a current
    party to (each once), read on the parties' index alone: the count of an unfiltered
    list. A party's organisation is always of the case's territory (``parties.record``)."""
    orgs = sorted(actor.organisations.get(territory_id, frozenset()))
    return (select(CaseParty.case_id).distinct()
            .where(CaseParty.organisation_id.in_(orgs), CaseParty.until.is_(None)))


def _dense(session: Session, current: ColumnElement[bool]) -> bool:
    capped = select(CaseParty.id).where(current).limit(SPARSE_PARTIES + 1).subquery()
    return (session.scalar(select(func.count()).select_from(capped)) or 0) > SPARSE_PARTIES


def name_shown(actor: Actor, territory_id: int, case_id: Any,
               now: datetime) -> ColumnElement[bool]:
    """SQL: may the actor read the household's name of the row's case (identity covered by
    the consent for a part an organisation of theirs plays)?"""
    if actor.is_system or actor.is_coordinator(territory_id):
        return true()
    orgs = sorted(actor.organisations.get(territory_id, frozenset()))
    if not orgs:
        return false()
    return exists().where(CaseParty.case_id == case_id, CaseParty.until.is_(None),
                          CaseParty.organisation_id.in_(orgs),
                          CaseConsent.case_id == case_id, CaseConsent.part == CaseParty.part,
                          CaseConsent.category == IDENTITY, _consent_active(now))


# One statement, columns only, built once (it runs at every signed-in request): the user and
# its memberships, none of them built as ORM objects.
_ACTOR_ROWS = (select(User.display_name, User.active, Membership.territory_id, Membership.role,
                      Membership.organisation_id)
               .outerjoin(Membership, Membership.user_id == User.id)
               .where(User.id == bindparam("user_id")))


def load_actor(session: Session, user_id: int) -> Actor:
    """The actor for an active user.

    :raises NotFound: unknown or deactivated user.
    """
    rows = session.execute(_ACTOR_ROWS, {"user_id": user_id}).all()
    if not rows or not rows[0].active:
        raise NotFound(code="svc.user_unknown")
    roles: dict[int, set[str]] = {}
    orgs: dict[int, set[int]] = {}
    for m in rows:
        if m.territory_id is None:  # no membership at all
            continue
        roles.setdefault(m.territory_id, set()).add(m.role)
        if m.organisation_id is not None:
            orgs.setdefault(m.territory_id, set()).add(m.organisation_id)
    return Actor(user_id=user_id, name=rows[0].display_name,
                 roles={t: frozenset(r) for t, r in roles.items()},
                 organisations={t: frozenset(o) for t, o in orgs.items()})


def require_member(actor: Actor, territory_id: int) -> None:
    """Refuse an actor with no role in the territory (as "not found": no existence leak).

    :raises NotFound:
    """
    if not actor.is_member(territory_id):
        raise NotFound(code="svc.not_found")


def require_coordinator(actor: Actor, territory_id: int) -> None:
    """:raises PermissionDenied: the actor does not coordinate this territory."""
    require_member(actor, territory_id)
    if not actor.is_coordinator(territory_id):
        raise PermissionDenied(code="svc.coordination_only")


def require_admin(actor: Actor, territory_id: int) -> None:
    """:raises PermissionDenied: the actor does not administer this territory."""
    require_member(actor, territory_id)
    if not actor.is_admin(territory_id):
        raise PermissionDenied(code="svc.admins_only")


def require_case_coordinator(session: Session, actor: Actor, case_id: int, territory_id: int,
                             now: datetime, admin: bool = False) -> None:
    """Refuse a coordination-only (or, with ``admin``, administration-only) action on a case:
    as "not found" to someone the case is out of reach of (no existence leak), else as a
    lack of right.

    :raises NotFound:
    :raises PermissionDenied:
    """
    if actor.is_admin(territory_id) if admin else actor.is_coordinator(territory_id):
        return
    case_view(session, actor, case_id, territory_id, now)
    raise PermissionDenied(code="svc.admins_only" if admin else "svc.coordination_only")


def administered(actor: Actor) -> frozenset[int]:
    """Territories where the actor holds the administrator role (none for the system)."""
    return frozenset(t for t, roles in actor.roles.items() if ADMIN_ROLE in roles)


def overseen(actor: Actor) -> list[int]:
    """Territories the actor administers, sorted: the administrator check of the oversight,
    audit and account screens.

    :raises PermissionDenied: the system actor, or an actor who administers no territory.
    """
    territories = [] if actor.is_system else sorted(administered(actor))
    if not territories:
        raise PermissionDenied(code="svc.admins_only")
    return territories


def require_account_admin(actor: Actor, account_territories: Iterable[int]) -> None:
    """Refuse to act on an account (its details, state, password or roles) unless the actor
    administers every territory the account belongs to; only the system reaches an account
    that belongs to none.

    :raises NotFound: the account shares no administered territory with the actor (no
        existence leak).
    :raises PermissionDenied: it also belongs to a territory the actor does not administer.
    """
    if actor.is_system:
        return
    held, mine = frozenset(account_territories), administered(actor)
    if not held & mine:
        raise NotFound(code="svc.user_not_found")
    if not held <= mine:
        raise PermissionDenied(code="svc.account_out_of_scope")


def any_of(roles: Iterable[str], held: frozenset[str]) -> bool:
    """True if one of ``roles`` is held."""
    return any(r in held for r in roles)


# --------------------------------------------------------------------------- consent
REFERRER_PART = "referrer"  # parties.REFERRER: the organisation that opened the case


def may_record_consent(session: Session, actor: Actor, case_id: int, territory_id: int,
                       referent_id: int | None) -> bool:
    """May the actor record or withdraw the household's consent on a case? Its territory's
    coordination, its référent·e de parcours, and the people of the organisation that
    referred it (the current ``referrer`` party)."""
    if actor.is_system or actor.is_coordinator(territory_id):
        return True
    if not actor.is_member(territory_id):
        return False
    if referent_id is not None and referent_id == actor.user_id:
        return True
    orgs = sorted(actor.organisations.get(territory_id, frozenset()))
    return bool(orgs) and bool(session.scalar(select(exists().where(
        CaseParty.case_id == case_id, CaseParty.part == REFERRER_PART,
        CaseParty.until.is_(None), CaseParty.organisation_id.in_(orgs)))))


# --------------------------------------------------------------------------- steps of a party
#
# A step of a lane bound to a part of the case (``human_task.part``) is offered to the people
# of the organisation holding that part (``human_task.organisation_id``) who hold its role;
# while no organisation holds it, to nobody (coordinators see it waiting on the case page and
# may assign it once a party is set). A step of an unbound lane: to the role in the territory.


def offered_to(actor: Actor, territory_id: int, role: str | None, part: str | None,
               organisation_id: int | None) -> bool:
    """Is an unassigned step of ``role`` (bound to ``part``, whose holder is
    ``organisation_id``) offered to the actor?"""
    if actor.is_system:
        return True
    if role is None or role not in actor.roles_in(territory_id):
        return False
    if part is None:
        return True
    return organisation_id in actor.organisations.get(territory_id, frozenset())


def may_work_on(actor: Actor, territory_id: int, role: str | None, assignee_id: int | None,
                part: str | None, organisation_id: int | None) -> bool:
    """May the actor claim or complete a step: held by them, or unassigned and offered to
    them (``offered_to``)?"""
    if actor.is_system:
        return True
    if assignee_id is not None:
        return assignee_id == actor.user_id
    return offered_to(actor, territory_id, role, part, organisation_id)


# --------------------------------------------------------------------------- the directory
#
# The directory of services holds no personal data: every member of a territory reads it.
# Its coordination creates, edits and deactivates any entry; the people of the organisation
# running a service edit that entry and its places available.


def may_edit_service(actor: Actor, territory_id: int, organisation_id: int) -> bool:
    """May the actor edit a directory entry (and its places) run by ``organisation_id``?"""
    if actor.is_system or actor.is_coordinator(territory_id):
        return True
    return organisation_id in actor.organisations.get(territory_id, frozenset())


def require_service_editor(actor: Actor, territory_id: int, organisation_id: int) -> None:
    """:raises NotFound: no role in the territory (no existence leak).
    :raises PermissionDenied: neither its coordination nor of the organisation running it."""
    require_member(actor, territory_id)
    if not may_edit_service(actor, territory_id, organisation_id):
        raise PermissionDenied(code="svc.directory_not_yours")


# --------------------------------------------------------------------------- answer links
#
# The holder of a signed answer link (an organisation without an account) reads of the case
# what the household's consent, in force now, grants the orientation's part: nothing else,
# whoever they are. No consent for that part: the reference only (no name, no answer).


def part_view(session: Session, case_id: int, part: str, now: datetime) -> View:
    """What a part reads of a case by the household's consent alone (none: the minimal
    view)."""
    categories = session.scalars(select(CaseConsent.category).distinct().where(
        CaseConsent.case_id == case_id, CaseConsent.part == part, _consent_active(now)))
    return View(frozenset(categories))


def only_administers(actor: Actor) -> bool:
    """Does the actor hold the administration role and nothing else, in every territory of
    theirs (no step can ever be offered to them)?"""
    held = actor.roles.values()
    return bool(held) and all(roles == {ADMIN_ROLE} for roles in held)


# --------------------------------------------------------------------------- commission sessions
#
# The secretariat of the commission (and the coordination) plans sessions, puts cases on
# their agenda, records a decision per case and closes them. A member of the commission
# (``MEMBER_ROLE``) sees the sessions of their territory and reads the files of the cases on
# a session's agenda from the day the files are sent until the session ends, and then only
# what the household's consent grants the commission's part (``COMMISSION_PART``): nothing
# of any other case, nothing after the end.

SECRETARIAT_ROLE = "secretariat"
MEMBER_ROLE = "membre_commission"
COMMISSION_PART = "commission"
FILES_OPEN = ("files_sent", "held")  # the states in which members read the files


def runs_sessions(actor: Actor, territory_id: int) -> bool:
    """Plans sessions, records decisions, closes sessions: the secretariat or coordination."""
    return actor.is_coordinator(territory_id) or SECRETARIAT_ROLE in actor.roles_in(territory_id)


def require_session_runner(actor: Actor, territory_id: int) -> None:
    """:raises PermissionDenied: neither the commission's secretariat nor coordination."""
    if not runs_sessions(actor, territory_id):
        raise PermissionDenied("Seuls le secrétariat de la commission et la coordination "
                               "peuvent faire cela.")


def sees_sessions(actor: Actor, territory_id: int) -> bool:
    """Sees the list of the territory's sessions: their runners and the commission's members."""
    return runs_sessions(actor, territory_id) or MEMBER_ROLE in actor.roles_in(territory_id)


def session_territories(actor: Actor) -> list[int]:
    """The territories whose sessions the actor sees (for lists, in SQL)."""
    return [t for t in actor.territories() if sees_sessions(actor, t)]


def session_file_view(session: Session, actor: Actor, territory_id: int, state: str,
                      on_agenda: bool, case_id: int, now: datetime) -> View:
    """What a reader of a session page reads of a case on its agenda: everything for the
    coordination; the commission's part by consent for the secretariat and, while the files
    are out (sent, not yet ended), for the members.

    :raises NotFound: not on the agenda, or a member outside the window, or anyone else.
    """
    if not on_agenda:
        raise NotFound("Dossier introuvable.")
    if actor.is_system or actor.is_coordinator(territory_id):
        return WHOLE
    if SECRETARIAT_ROLE in actor.roles_in(territory_id) or (
            MEMBER_ROLE in actor.roles_in(territory_id) and state in FILES_OPEN):
        return part_view(session, case_id, COMMISSION_PART, now)
    raise NotFound("Dossier introuvable.")


def agenda_readable(actor: Actor, territory_id: int) -> ColumnElement[bool]:
    """The same rule in SQL, over ``commission_session``: the sessions whose agenda (and its
    cases' files) the actor reads in a territory."""
    if runs_sessions(actor, territory_id):
        return true()
    if MEMBER_ROLE in actor.roles_in(territory_id):
        return CommissionSession.state.in_(FILES_OPEN)
    return false()


# --------------------------------------------------------------------------- statistics
#
# A territory's statistics (aggregates only, small counts hidden) are read by those who
# oversee its activity: its coordination and its administrators (``is_coordinator``).


def statistics_territories(actor: Actor) -> list[int]:
    """The territories whose statistics the actor reads, sorted (none for the system)."""
    return [] if actor.is_system else [t for t in actor.territories()
                                       if actor.is_coordinator(t)]


def require_statistics(actor: Actor, territory_id: int | None = None) -> list[int]:
    """The territories to count: ``territory_id`` alone, or all the actor oversees (as the
    supervision does, a territory out of reach is refused, not hidden: its id tells nothing).

    :raises PermissionDenied: the actor oversees no territory, or not this one.
    """
    mine = statistics_territories(actor)
    if territory_id is None:
        if not mine:
            raise PermissionDenied(code="stats.not_overseen")
        return mine
    if territory_id not in mine:
        raise PermissionDenied(code="stats.not_overseen")
    return [territory_id]


# --------------------------------------------------------------------------- subject access
#
# What is held about a household is exported, and its identity corrected, by its territory's
# coordination only: a partner who reads one of its cases is refused (403), anyone else is
# told there is no such household (404).


def require_household_coordinator(session: Session, actor: Actor, household_id: int,
                                  territory_id: int, now: datetime) -> None:
    """:raises NotFound: out of the actor's reach. :raises PermissionDenied: a reader of one
    of the household's cases who does not coordinate its territory."""
    if not actor.is_member(territory_id):
        raise NotFound(code="svc.household_not_found")
    if actor.is_coordinator(territory_id):
        return
    seen = session.scalar(select(exists().where(
        Case.household_id == household_id, Case.territory_id == territory_id,
        case_scope(actor, territory_id, Case.id, session))))
    if seen:
        raise PermissionDenied(code="svc.coordination_only")
    raise NotFound(code="svc.household_not_found")


# --------------------------------------------------------------------------- metrics
#
# ``/metrics`` is read by a monitoring system, not by a person: with a token set
# (AIGUILLAGE_METRICS_TOKEN), only a request that presents it; without one, only a client on
# this machine that did not come through a proxy (a forwarded request may come from anywhere).
# Anyone else is told there is no such page.


def may_read_metrics(token: str, authorization: str, client: str, forwarded: bool) -> bool:
    """``token``: the setting ('' when unset); ``authorization``: the request's header;
    ``client``: its address; ``forwarded``: it carries X-Forwarded-For or Forwarded."""
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode())
    if forwarded:
        return False
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- API keys
#
# A piece of software acts with an API key as the key's technical account (its roles in its
# organisation, like a person's memberships); the key also limits its rights (``read``,
# ``write``) and, maybe, the circuits it reaches. A person has no such limit.

READ_SCOPE, WRITE_SCOPE = "read", "write"


def require_scope(actor: Actor, scope: str, circuit_id: int | None = None) -> None:
    """Refuse a call an API key's rights do not cover (nothing for a person or the system).

    :raises PermissionDenied: the key lacks ``scope``, or does not reach ``circuit_id``.
    """
    if actor.scopes is not None and scope not in actor.scopes:
        raise PermissionDenied(code="svc.api_scope", scope=scope)
    if circuit_id is not None and actor.circuits is not None \
            and circuit_id not in actor.circuits:
        raise PermissionDenied(code="svc.api_circuit")


# --------------------------------------------------------------------------- outside answers
#
# A message a case awaits (an answer from the CAF, the SIAO...) is sent by the lane roles the
# circuit names (``from``: a person or an API key's technical account holding that role in
# the case's territory), or entered by hand by the territory's coordination or
# administration. Nobody else.


def may_send_message(actor: Actor, territory_id: int, senders: Iterable[str]) -> bool:
    """May ``actor`` send a message whose circuit names ``senders`` (lane roles)?"""
    return actor.is_coordinator(territory_id) or bool(
        actor.roles_in(territory_id) & frozenset(senders))


def require_message_sender(session: Session, actor: Actor, case_id: int, territory_id: int,
                           senders: Iterable[str], now: datetime) -> None:
    """Refuse a message from someone the circuit does not let send it: as "not found" when
    the case is out of their reach (no existence leak), else as a lack of right.

    :raises NotFound:
    :raises PermissionDenied:
    """
    if actor.circuits is not None and session.scalar(
            select(Case.circuit_id).where(Case.id == case_id)) not in actor.circuits:
        raise NotFound(code="svc.case_not_found")  # an API key limited to other circuits
    if may_send_message(actor, territory_id, senders):
        return
    case_view(session, actor, case_id, territory_id, now)
    raise PermissionDenied(code="svc.message_sender")
