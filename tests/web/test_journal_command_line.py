"""The journal names who acted: a command typed at the server's console
(``aiguillage user reset-password``…) reads « Exploitation, en ligne de commande », not the
scheduler's « Système »."""

from __future__ import annotations

from html import unescape

from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.services import operations, users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD, World


def test_a_command_line_action_reads_as_such(app: Flask, client: FlaskClient,
                                             clock: FixedClock, world: World) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        user = users.create_user(session, clock, SYSTEM, "admin@demo.test", "Alix Admin",
                                 PASSWORD)
        users.add_membership(session, clock, SYSTEM, user.id, world.territory.id, "admin")
        operations.set_password(session, clock, "coord@demo.test", "un-autre-mot-de-passe")
    client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    page = unescape(client.get("/supervision/journal").text)
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")
    [reset] = [r for r in rows if "Nouveau mot de passe provisoire donné" in r]
    assert "Exploitation, en ligne de commande" in reset
    [added] = [r for r in rows if "Rôle ajouté" in r and "Alix Admin" in r]
    assert "Système (échéances et tâches automatiques)" in added  # the system, not a console
