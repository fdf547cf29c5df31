"""Shared steps of the web tests."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.services import cases, tasks
from tests.integration.factories import World


def open_case(app: Flask, clock: FixedClock, world: World, analysed: bool = False) -> tuple[int, int]:
    """A case of the test circuit: (case id, id of its open step)."""
    with app.extensions["aiguillage"].sessions() as session:
        summary = cases.start(session, clock, world.coordinator, world.circuit.id,
                              {"nom_menage": "Ménage Test Matrice"})
        [task] = [t for t in tasks.my_tasks(session, clock, world.coordinator).items
                  if t.case_id == summary.id]
        if analysed:
            tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
            [task] = [t for t in tasks.my_tasks(session, clock, world.operator).items
                      if t.case_id == summary.id]
        return summary.id, task.id


def task_ids(client: FlaskClient) -> list[str]:
    return re.findall(r'href="/taches/(\d+)"', client.get("/taches/").text)


def with_form_labels(client: FlaskClient, url: str, typed: dict[str, str]) -> dict[str, str]:
    """``typed`` as the form at ``url`` posts it: with its hidden ``_libelles`` (the form's
    labels, which the 503 page names the fields with)."""
    found = re.search(r'name="_libelles" value="([^"]*)"', client.get(url).text)
    assert found, "the form sends no labels"
    return {**typed, "_libelles": html.unescape(found.group(1))}
