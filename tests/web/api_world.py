"""A small world for the REST API's tests: the mini circuit's territory, an organisation and
API keys of it (write, read only, limited to another circuit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from engine.clock import FixedClock
from engine.persistence.models import Circuit
from engine.services import api_keys
from engine.services.access import SYSTEM
from tests.integration.factories import World, make_org, make_world


@dataclass
class ApiWorld:
    """The world, its organisation and the tokens of its keys."""

    world: World
    organisation_id: int
    writer: str  # read and write, every circuit, role « operateur »
    reader: str  # read only
    elsewhere: str  # read and write, but only on a circuit that is not the mini one


def make_api_world(app: Flask, clock: FixedClock) -> ApiWorld:
    """Build the world and its keys in the app's database."""
    api_keys.reset_rates()
    with app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock)
        territory = world.territory.id
        org = make_org(session, clock, territory, "Association Essai")

        def key(name: str, scopes: list[str], circuits: list[int] | None) -> str:
            return api_keys.create(session, clock, SYSTEM, territory, org, name,
                                   ["operateur"], scopes, circuits).token

        writer = key("Logiciel qui écrit", ["read", "write"], None)
        reader = key("Logiciel qui lit", ["read"], None)
        other = Circuit(territory_id=territory, key="autre", title="Autre circuit")
        session.add(other)
        session.commit()
        elsewhere = key("Logiciel d'un autre circuit", ["read", "write"], [other.id])
        return ApiWorld(world, org, writer, reader, elsewhere)


def call(client: FlaskClient, method: str, url: str, token: str | None = None,
         json: Any = None, **kw: Any) -> TestResponse:
    """A request to the API with ``token`` as its bearer key."""
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.open(url, method=method, json=json, headers=headers, **kw)
