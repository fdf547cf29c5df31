"""A step's deadline counted from a date of the case (``dueRelative``, issue #15 item 1):
computed before or after the date, in days, working days or months, falling back to
``dueIn`` when the date is empty, recomputed when the date is corrected, and checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core import timers
from engine.core.bundles import CircuitBundle
from engine.core.loader import load_path
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from tests.conftest import MINI

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs_aud" \
targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="collab_aud">
    <bpmn:participant id="part_aud" name="Audience" processRef="mini" />
  </bpmn:collaboration>
  <bpmn:process id="mini" name="Audience" isExecutable="true">
    <bpmn:laneSet id="lanes_aud">
      <bpmn:lane id="lane_coord" name="Coordination de la plateforme">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>split</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>preparer</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>noter</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_p</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_n</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Saisine">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="aud-audience.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:parallelGateway id="split" name="En parallèle">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:parallelGateway>
    <bpmn:userTask id="preparer" name="Préparer l'audience">
      <bpmn:documentation>Préparez l'audience.</bpmn:documentation>
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="dueRelative" value="-7D:date_audience" />
        FALLBACK
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="noter" name="Noter la date d'audience">
      <bpmn:documentation>Notez la date.</bpmn:documentation>
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="aud-audience.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end_p" name="Audience préparée"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_n" name="Date notée"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="preparer" />
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="noter" />
    <bpmn:sequenceFlow id="f4" sourceRef="preparer" targetRef="end_p" />
    <bpmn:sequenceFlow id="f5" sourceRef="noter" targetRef="end_n" />
  </bpmn:process>
</bpmn:definitions>
"""
FORM = ('{"title": "Audience", "type": "object", "properties": {"date_audience": '
        '{"type": "string", "format": "date", "title": "Date de l\'audience"}}}')


def audience_bundle(tmp_path: Path, relative: str = "-7D:date_audience",
                    fallback: str = "") -> CircuitBundle:
    """Two open steps side by side: one notes the hearing's date, the other is due before it."""
    (tmp_path / "forms").mkdir(exist_ok=True)
    (tmp_path / "forms" / "aud-audience.json").write_text(FORM, encoding="utf-8")
    (tmp_path / "territory.json").write_text(
        (MINI / "territory.json").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "mini.bpmn").write_text(
        BPMN.replace("-7D:date_audience", relative).replace("FALLBACK", fallback),
        encoding="utf-8")
    return load_path(tmp_path, tmp_path / "forms").bundles[0][1]


def end_of(day: date) -> datetime:
    return timers.working_calendar.end_of_day(day)


@pytest.mark.parametrize(("value", "day", "expected"), [
    ("-7D:date_audience", "2026-03-20", date(2026, 3, 13)),
    ("+7D:date_audience", "2026-03-20", date(2026, 3, 27)),
    ("+0D:date_audience", "2026-03-20", date(2026, 3, 20)),
    # working days: day zero is the date; Easter Monday 6 April 2026 is skipped
    ("-2WD:date_audience", "2026-04-08", date(2026, 4, 3)),
    ("+1WD:date_audience", "2026-04-03", date(2026, 4, 7)),
    ("-5WD:date_audience", "2026-05-11", date(2026, 4, 30)),  # 8 May and 1 May skipped
    # months keep the day, or the month's last one
    ("+2M:date_commandement", "2025-12-31", date(2026, 2, 28)),
    ("+1M:date_commandement", "2024-01-31", date(2024, 2, 29)),
    ("-1M:date_commandement", "2026-03-31", date(2026, 2, 28)),
    ("-2M:date_commandement", "2026-01-15", date(2025, 11, 15)),
    (" -7d:date_audience ", "2026-03-20T00:00:00", date(2026, 3, 13)),
])
def test_relative_due_dates(value: str, day: str, expected: date) -> None:
    due = timers.relative_due(timers.parse_relative(value), day)
    assert due == end_of(expected)
    assert due is not None and due.astimezone(timers.working_calendar.PARIS).hour == 23


@pytest.mark.parametrize("empty", [None, "", "  ", "pas une date", 12])
def test_an_empty_or_unreadable_date_gives_no_due_date(empty: object) -> None:
    assert timers.relative_due(timers.parse_relative("-7D:date_audience"), empty) is None


@pytest.mark.parametrize(("value", "code"), [
    ("-7D:date_audience", None), ("+366WD:x", "deadline.working_days.max"),
    ("7D:date_audience", "deadline.relative.format"), ("-7J:date_audience",
                                                       "deadline.relative.format"),
    ("-7D", "deadline.relative.format"), ("-7D:date audience", "deadline.relative.format"),
    ("-P7D:date_audience", "deadline.relative.format"), ("+121M:d", "deadline.months.max"),
    ("+ 2 m : date_commandement", None),
])
def test_relative_problem(value: str, code: str | None) -> None:
    found = timers.relative_problem(value)
    assert (found[0] if found else None) == code


def test_the_due_date_follows_the_date_when_it_is_corrected(tmp_path: Path) -> None:
    circuit = compile_circuit(audience_bundle(tmp_path))
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    case = Instance.start(circuit, {"date_audience": "2026-03-20"}, clock)
    steps = {t.bpmn_id: t for t in case.ready_tasks()}
    assert steps["preparer"].due_at == end_of(date(2026, 3, 13))
    assert steps["noter"].due_at is None
    clock.advance(timedelta(hours=1))
    case.complete(steps["noter"].id, {"date_audience": "2026-04-10"})
    [preparer] = case.ready_tasks()
    assert preparer.due_at == end_of(date(2026, 4, 3))
    assert preparer.ready_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    # survives a reload
    again = Instance.load(circuit, case.dump(), clock)
    assert again.ready_tasks()[0].due_at == end_of(date(2026, 4, 3))


def test_without_the_date_the_step_falls_back_to_due_in(tmp_path: Path) -> None:
    fallback = '<spiffworkflow:property name="dueIn" value="P30D" />'
    circuit = compile_circuit(audience_bundle(tmp_path, fallback=fallback))
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    case = Instance.start(circuit, {}, clock)
    steps = {t.bpmn_id: t for t in case.ready_tasks()}
    assert steps["preparer"].due_at == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    case.complete(steps["noter"].id, {"date_audience": "2026-04-10"})
    assert case.ready_tasks()[0].due_at == end_of(date(2026, 4, 3))


def test_without_the_date_nor_due_in_there_is_no_deadline(tmp_path: Path) -> None:
    circuit = compile_circuit(audience_bundle(tmp_path))
    case = Instance.start(circuit, {}, FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    assert {t.bpmn_id: t.due_at for t in case.ready_tasks()} == {"preparer": None,
                                                                  "noter": None}


def test_the_circuit_as_written_is_clean(tmp_path: Path) -> None:
    assert [p for p in check(audience_bundle(tmp_path)) if p.is_error] == []


@pytest.mark.parametrize(("value", "fr"), [
    ("-7D:date_naissance", "Délai de « Préparer l'audience » : aucun formulaire du circuit "
     "n'a de champ date « date_naissance »"),
    ("sept jours avant", "Délai de « Préparer l'audience » : « sept jours avant » n'est pas "
     "lisible"),
    ("-400WD:date_audience", "Délai de « Préparer l'audience » : 365 jours ouvrés au plus"),
])
def test_the_check_refuses_an_unknown_field_or_a_malformed_value(tmp_path: Path, value: str,
                                                                 fr: str) -> None:
    [problem] = [p for p in check(audience_bundle(tmp_path, value)) if p.code == "bpmn.deadline"]
    assert problem.is_error and problem.element_id == "preparer"
    assert problem.message("fr").startswith(fr)
    assert "Préparer" in problem.message("en")
