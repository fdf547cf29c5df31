"""A world for the load benchmarks: the demo territory grown to N cases whose steps can be
completed through the real app, about ``overdue`` of its open steps overdue, and accounts of
the three roles for concurrent users.

The statistics bench (bench/statistics_page.py) inserts bare rows quickly but its cases have
no workflow state, so no step of theirs can be completed; here the copies come from
``demo.generate``, which copies real cases with their workflow state, steps, timers, parties
and consent. ``build`` returns the accounts as (e-mail, kind) pairs, all with ``PASSWORD``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from engine.bootstrap import build as build_engine  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import HumanTask, Organisation  # noqa: E402
from engine.persistence.models.human_task import TaskStatus  # noqa: E402
from engine.services import demo, users  # noqa: E402
from engine.services.access import SYSTEM  # noqa: E402

PASSWORD = "mot-de-passe-de-bench"
# the three roles of issue #17: social workers of the referrer and of both operators,
# coordinators, administrators; (kind, organisation's part in the demo, roles)
KINDS = (("social_worker", "referrer", demo.FIELD_ROLES),
         ("social_worker", "operator", ("operateur", "referent", "travailleur_social")),
         ("social_worker", "operator_b", ("operateur", "referent", "travailleur_social")),
         ("coordinator", None, demo.COORD_ROLES),
         ("administrator", None, ("admin",)))
# how many accounts of each line of KINDS for every 16 users (the rest rounds up)
SHARE = (4, 3, 3, 4, 2)


def overdue_share(session: Session, now: datetime, wanted: int) -> int:
    """Push deadlines so that about ``wanted`` open steps are overdue (issue #17: 10k of
    100k): the generator's spread of dates makes far more overdue otherwise. Returns the
    number overdue."""
    late = list(session.scalars(select(HumanTask.id).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < now).order_by(HumanTask.id)))
    keep = set(late[:: max(1, len(late) // max(wanted, 1))][:wanted])
    later = [i for i in late if i not in keep]
    for start in range(0, len(later), 5000):
        chunk = later[start:start + 5000]
        session.execute(update(HumanTask).where(HumanTask.id.in_(chunk)).values(
            due_at=now + timedelta(days=10), due_sort=now + timedelta(days=10)))
    session.commit()
    return len(keep)


def accounts(session: Session, clock, territory_id: int,  # type: ignore[no-untyped-def]
             count: int) -> list[tuple[str, str]]:
    """``count`` accounts spread over KINDS (at least one of each); (e-mail, kind)."""
    orgs = dict(session.execute(select(Organisation.name, Organisation.id).where(
        Organisation.territory_id == territory_id)).all())
    by_part = {part: orgs[name] for part, name, _ in demo.ORGANISATIONS}
    made: list[tuple[str, str]] = []
    rounds = -(-count // sum(SHARE))
    for line, (kind, part, roles) in enumerate(KINDS):
        for n in range(SHARE[line] * rounds):
            email = f"{kind.replace('_', '-')}-{part or 'territoire'}-{n}@bench.test"
            user = users.create_user(session, clock, SYSTEM, email, f"Bench {kind} {n}",
                                     PASSWORD)
            for role in roles:
                users.add_membership(session, clock, SYSTEM, user.id, territory_id, role,
                                     by_part[part] if part else None)
            made.append((email, kind))
    session.commit()
    # interleave the kinds, so that the first ``count`` mix all three roles
    made.sort(key=lambda pair: (int(pair[0].split("@")[0].rsplit("-", 1)[1]), pair[0]))
    return made


def build(url: str, cases: int, overdue: int, users_count: int) -> list[tuple[str, str]]:
    """Migrate ``url``, load the demo territory, grow it to ``cases`` cases with about
    ``overdue`` overdue steps, create ``users_count`` accounts (none for 0: the demo's own
    accounts then, as bench/web.py signs in with); prints what it did and how long."""
    begin = time.perf_counter()
    engine = build_engine(url)
    upgrade(engine.database)
    with engine.sessions() as session:
        territory_id = demo.load(session, engine.clock, ROOT, PASSWORD, cases_per_circuit=12)
        session.commit()
        demo.generate(session, engine.clock, territory_id, cases)
        session.commit()
        late = overdue_share(session, engine.clock.now(), overdue)
        made = accounts(session, engine.clock, territory_id, users_count) if users_count else []
    if url.startswith("postgresql"):  # what autovacuum does soon after a bulk load, at once
        with engine.database.connect().execution_options(
                isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.database.dispose()
    print(f"  world: {cases:,} generated cases + demo cases, {late:,} overdue steps, "
          f"{len(made)} accounts, built in {time.perf_counter() - begin:.0f} s", flush=True)
    return made
