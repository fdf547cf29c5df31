"""A first walk through the pages."""

from __future__ import annotations

from html import unescape

from flask.testing import FlaskClient

from tests.integration.factories import World
from tests.web.conftest import AuthActions


def test_social_worker_journey(client: FlaskClient, auth: AuthActions, world: World) -> None:
    assert client.get("/").status_code == 302
    assert client.get("/taches/").status_code == 302
    assert auth.login().status_code == 302
    page = client.get("/dossiers/nouveau")
    assert page.status_code == 200, page.text
    page = client.get(f"/dossiers/nouveau?circuit={world.circuit.id}")
    assert "Nom du ménage" in unescape(page.text), page.text
    bad = client.post("/dossiers/nouveau", data={"circuit": world.circuit.id, "nb_enfants": "-1"})
    assert bad.status_code == 422
    assert "Ce champ est obligatoire." in unescape(bad.text)
    ok = client.post("/dossiers/nouveau", data={"circuit": world.circuit.id,
                                                "nom_menage": "Ménage Test", "nb_enfants": "1"})
    assert ok.status_code == 302, ok.text
    case_page = client.get(ok.headers["Location"])
    assert case_page.status_code == 200, case_page.text
    assert "Analyser la demande" in unescape(case_page.text)
    tasks = client.get("/taches/")
    assert tasks.status_code == 200 and "Ménage Test" in unescape(tasks.text)
    import re
    task_id = re.search(r'/taches/(\d+)"', tasks.text).group(1)  # type: ignore[union-attr]
    show = client.get(f"/taches/{task_id}")
    assert show.status_code == 200 and "Mesure proposée" in unescape(show.text), show.text
    wrong = client.post(f"/taches/{task_id}", data={"mesure": "bogus"})
    assert wrong.status_code == 422 and "Choisissez une des valeurs proposées." in unescape(wrong.text)
    done = client.post(f"/taches/{task_id}", data={"mesure": "avdl"})
    assert done.status_code == 302
    again = client.post(f"/taches/{task_id}", data={"mesure": "avdl"}, follow_redirects=True)
    assert "déjà été réalisée" in unescape(again.text)
    assert client.get("/dossiers/").status_code == 200
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}
