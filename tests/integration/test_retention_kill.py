"""Fault injection: the anonymisation sweep killed with SIGKILL at random moments (issue #16:
« anonymisation interrupted by kill -9 leaves each case either fully anonymised or
untouched »). SQLite and PostgreSQL.

Closed cases past their rule, each holding the household's data in every place a case can
(answers, orientation texts, a link's address, consents, parties, the household's record).
Scheduler processes sweep them one after the other and are killed with ``kill -9`` at
random points (fixed seed, bounded rounds); after each kill, every case is either untouched
(every row as it was, not journalled) or fully anonymised (no trace of the household's data
in any source, journalled once). An unkilled process then finishes; on PostgreSQL two
processes sweeping at once anonymise each case once.
"""

from __future__ import annotations

import json
import os
import random
import select as select_io
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.core.consent import CATEGORIES
from engine.core.retention import ANONYMOUS_NAME
from engine.persistence.models import (
    AnswerLink,
    AuditEvent,
    Case,
    CaseConsent,
    CaseParty,
    CaseReferent,
    Household,
    Orientation,
    OrientationEvent,
    OutboxMessage,
)
from engine.persistence.models.case import CaseState
from engine.services import answer_links, cases
from tests.integration.factories import give_consent
from tests.integration.orientation_world import (
    Oriented,
    answer,
    new_case,
    orient,
    oriented_world,
)
from tests.integration.test_retention import keep

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CASES = 40
SEED = 20261207
MAX_ROUNDS = 12
CHILD_SECONDS = 120.0


def populate(session: Session, clock: FixedClock, where: Oriented) -> list[int]:
    ids = []
    for n in range(CASES):
        case_id = new_case(session, clock, where, f"Ménage Zébulon{n:02d}")
        give_consent(session, clock, case_id, "operator", CATEGORIES)
        orient(session, clock, where, case_id, where.uncounted,
               argumentaire=f"Secret{n:02d} dort chez sa sœur")
        orientation = session.scalar(select(Orientation.id).where(
            Orientation.case_id == case_id))
        assert orientation is not None
        answer_links.send(session, clock, where.world.coordinator, orientation,
                          f"service{n:02d}@alpha.test")
        answer(session, clock, where.worker_b, case_id, decision="refusee",
               motifs_refus=["hors_secteur"], message_personne=f"Secret{n:02d}")
        cases.close(session, clock, where.world.coordinator, case_id, "Fin")
        ids.append(case_id)
    return ids


def secrets(n: int) -> tuple[str, ...]:
    return (f"Zébulon{n:02d}", f"Secret{n:02d}", f"service{n:02d}@alpha.test")


def fingerprint(s: Session, case_id: int) -> str:
    """Every row of a case's sources that anonymising rewrites, as one text."""
    case = s.get(Case, case_id)
    assert case is not None
    orientations = select(Orientation.id).where(Orientation.case_id == case_id)
    rows: list[Any] = [
        case.household_name, case.close_reason,
        s.scalar(select(CaseState.state).where(CaseState.case_id == case_id)),
        [(h.name, h.name_key, h.birth_year, h.commune) for h in s.scalars(
            select(Household).where(Household.id == case.household_id))],
        [(o.comment, o.message_referrer, o.answer_household, o.reason_detail)
         for o in s.scalars(select(Orientation).where(Orientation.case_id == case_id))],
        [e.comment for e in s.scalars(select(OrientationEvent).where(
            OrientationEvent.orientation_id.in_(orientations)))],
        [a.email for a in s.scalars(select(AnswerLink).where(
            AnswerLink.orientation_id.in_(orientations)))],
        [(c.witness, c.withdraw_reason) for c in s.scalars(select(CaseConsent).where(
            CaseConsent.case_id == case_id))],
        [(p.reason, p.end_reason) for p in s.scalars(select(CaseParty).where(
            CaseParty.case_id == case_id))],
        [(r.reason, r.end_reason) for r in s.scalars(select(CaseReferent).where(
            CaseReferent.case_id == case_id))],
        [m.payload for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == case_id))],
    ]
    return json.dumps(rows, ensure_ascii=False, sort_keys=True, default=str)


def journalled(s: Session, case_id: int) -> int:
    return s.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.anonymised")) or 0


def check_all_or_nothing(sessions: sessionmaker[Session], ids: list[int],
                         before: dict[int, str]) -> int:
    """Each case untouched or fully anonymised; returns how many are anonymised."""
    done = 0
    with sessions() as s:
        for n, case_id in enumerate(ids):
            case = s.get(Case, case_id)
            assert case is not None
            now = fingerprint(s, case_id)
            if case.anonymised_at is None:
                assert now == before[case_id], f"case {case_id} half anonymised"
                assert journalled(s, case_id) == 0
            else:
                done += 1
                assert not [x for x in secrets(n) if x in now], (case_id, now)
                assert case.household_name == ANONYMOUS_NAME
                assert journalled(s, case_id) == 1
    return done


def spawn(url: str, instant: datetime, batch: int, log: IO[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.retention_child", url, instant.isoformat(),
         str(batch)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        text=True)


def wait_ready(proc: subprocess.Popen[str]) -> bool:
    assert proc.stdout is not None
    end = time.monotonic() + CHILD_SECONDS
    while time.monotonic() < end:
        readable, _, _ = select_io.select([proc.stdout], [], [], 0.05)
        if readable:
            return proc.stdout.readline().strip() == "ready"
        if proc.poll() is not None:
            return False
    return False


def anonymised(sessions: sessionmaker[Session], ids: list[int]) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Case).where(
            Case.id.in_(ids), Case.anonymised_at.is_not(None))) or 0


def wait_progress(proc: subprocess.Popen[str], sessions: sessionmaker[Session],
                  ids: list[int], done: int) -> None:
    """Until the child has anonymised more than ``done`` cases (or has ended): the first
    kill then lands in the middle of a sweep however slow the machine is."""
    end = time.monotonic() + CHILD_SECONDS
    while time.monotonic() < end and proc.poll() is None:
        if anonymised(sessions, ids) > done:
            return
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str], log_path: Path) -> int:
    try:
        out, _ = proc.communicate(timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"sweep did not finish in {CHILD_SECONDS} s:\n{log_path.read_text()}")
    assert proc.returncode == 0, log_path.read_text()[-4000:]
    return int(json.loads(out.strip().splitlines()[-1])["anonymised"])


@pytest.fixture
def built(session: Session, clock: FixedClock, tmp_path: Path) -> list[int]:
    where = oriented_world(session, clock, tmp_path)
    keep(session, where.world.territory.id, "24M")
    return populate(session, clock, where)


def test_kill_9_leaves_each_case_anonymised_or_untouched(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, db_url: str,
        built: list[int], tmp_path: Path) -> None:
    ids = built
    with sessions() as s:
        before = {case_id: fingerprint(s, case_id) for case_id in ids}
    instant = clock.now() + timedelta(days=800)
    rng = random.Random(SEED)
    kills = rounds = 0
    log_path = tmp_path / "children.log"
    progress = []
    with log_path.open("w") as log:
        while rounds < MAX_ROUNDS:
            rounds += 1
            proc = spawn(db_url, instant, rng.choice((1, 3, 7)), log)
            if rng.random() < 0.2:  # anywhere: while importing, connecting or sweeping
                time.sleep(rng.uniform(0.0, 1.0))
            else:
                assert wait_ready(proc), log_path.read_text()[-4000:]
                if rounds == 1:  # once for sure: killed right after its first cases
                    wait_progress(proc, sessions, ids, 0)
                else:
                    time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(CHILD_SECONDS)
            if proc.stdout is not None:
                proc.stdout.close()
            done = check_all_or_nothing(sessions, ids, before)
            progress.append(done)
            if done == len(ids):
                break
        last = finish(spawn(db_url, instant, 5, log), log_path)
    assert check_all_or_nothing(sessions, ids, before) == len(ids)
    assert kills > 0 and 0 < progress[0]  # some cases were done before a kill
    print(f"\n[{db_url.split(':')[0]}] {len(ids)} cases; {rounds} rounds, {kills} SIGKILLs; "
          f"anonymised after each round {progress}; the survivor did {last}")


def test_two_sweeps_at_once_anonymise_each_case_once(
        backend: str, sessions: sessionmaker[Session], clock: FixedClock, db_url: str,
        built: list[int], tmp_path: Path) -> None:
    if backend.startswith("sqlite"):
        pytest.skip("SQLite has one writer: one scheduler per database")
    with sessions() as s:
        before = {case_id: fingerprint(s, case_id) for case_id in built}
    instant = clock.now() + timedelta(days=800)
    log_path = tmp_path / "children.log"
    with log_path.open("w") as log:
        procs = [spawn(db_url, instant, 3, log) for _ in (1, 2)]
        one, two = (finish(p, log_path) for p in procs)
    assert one + two == len(built)
    assert check_all_or_nothing(sessions, built, before) == len(built)
    print(f"\n[postgresql] two sweeps at once anonymised {one} + {two} cases")
