"""Diagrams a person can read and click (#14, item 5), in a real browser: the case page, the
versions diff and the modeler open at a readable size on the step that matters (the current
one, the first change, the start event clear of the palette), with zoom, overview, recentre and
full-screen buttons. Each view is photographed in ``tests/e2e/last-diagram-*.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.persistence.models import Case
from engine.services import drafts
from engine.services.access import SYSTEM
from tests.e2e.conftest import LiveApp, coordination_case, sign_in

STEP = "C1_T04"  # « Analyser la demande et proposer une orientation », mid-diagram
SHOTS = Path(__file__).resolve().parent

# The on-screen box of an element, and of the canvas holding it (CSS pixels).
BOXES = """([canvas, id]) => {
  const box = (node) => { const r = node.getBoundingClientRect();
                          return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const holder = document.querySelector(canvas);
  const shape = holder.querySelector(`.djs-element[data-element-id="${id}"] .djs-visual`);
  return {canvas: box(holder), shape: shape ? box(shape) : null};
}"""


def _shape(page: Any, canvas: str, element_id: str) -> dict[str, float]:
    """The element's box, asserted fully inside its canvas, at a clickable size."""
    boxes = page.evaluate(BOXES, [canvas, element_id])
    outer, shape = boxes["canvas"], boxes["shape"]
    assert shape is not None, f"{element_id} not drawn in {canvas}"
    assert outer["x"] <= shape["x"] and shape["x"] + shape["width"] <= outer["x"] + outer["width"]
    assert outer["y"] <= shape["y"] and shape["y"] + shape["height"] <= outer["y"] + outer["height"]
    assert shape["width"] >= 80, shape  # readable labels, easy to click (was 24 px)
    return shape


def _width(page: Any, canvas: str, element_id: str) -> float:
    shape = page.evaluate(BOXES, [canvas, element_id])["shape"]
    return float(shape["width"])


def _check_buttons(page: Any, view: Any, canvas: str, element_id: str) -> None:
    """Zoom in and out change the size on screen; overview shrinks the diagram; recentre
    comes back to the step; full screen fills the window, Esc leaves it."""
    start = _width(page, canvas, element_id)
    view.get_by_role("button", name="Zoom +").click()
    bigger = _width(page, canvas, element_id)
    assert bigger > start * 1.1
    view.get_by_role("button", name="Zoom −").click()
    view.get_by_role("button", name="Zoom −").click()
    assert _width(page, canvas, element_id) < bigger * 0.9
    view.get_by_role("button", name="Vue d'ensemble").click()
    assert _width(page, canvas, element_id) < start
    view.get_by_role("button", name="Recentrer").click()
    _shape(page, canvas, element_id)

    button = view.get_by_role("button", name="Plein écran", exact=True)
    button.focus()  # keyboard reachable
    page.keyboard.press("Enter")
    page.wait_for_function("() => !!document.fullscreenElement"
                           " || !!document.querySelector('.diagram-view-maximised')")
    view.get_by_role("button", name="Quitter le plein écran", exact=True).wait_for()
    height = page.evaluate("(c) => document.querySelector(c).getBoundingClientRect().height", canvas)
    assert height > page.viewport_size["height"] * 0.75
    _shape(page, canvas, element_id)  # the same place, on a bigger canvas
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.fullscreenElement"
                           " && !document.querySelector('.diagram-view-maximised')")
    view.get_by_role("button", name="Plein écran", exact=True).wait_for()
    _shape(page, canvas, element_id)


def test_case_page_opens_on_the_current_step(live_app: LiveApp, browser: Any) -> None:
    _, reference = coordination_case(live_app, 2)  # waiting at C1_T04
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/dossiers/{case_id}")
    page.wait_for_selector("#diagramme[data-ready='true']", timeout=20000)
    view = page.get_by_role("group", name="Schéma du circuit", exact=True)
    view.scroll_into_view_if_needed()
    _shape(page, "#diagramme", STEP)
    assert page.locator(f"#diagramme .djs-element.step-current[data-element-id='{STEP}']").count()
    # the text alternative sits on the drawing, the bpmn.io link outside it
    drawing = page.get_by_role("img", name="Schéma du circuit ; les étapes en cours sont listées"
                                           " ci-dessus")
    assert drawing.count() == 1
    assert page.locator("[role='img'] a, [role='img'] .bjs-powered-by").count() == 0
    assert page.locator("#diagramme .bjs-powered-by").is_visible()  # bpmn.io's licence
    page.screenshot(path=str(SHOTS / "last-diagram-case.png"))
    _check_buttons(page, view, "#diagramme", STEP)
    assert errors == []


def test_diff_opens_on_the_first_change(live_app: LiveApp, browser: Any) -> None:
    circuit_id, _ = coordination_case(live_app, 0)
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        draft = drafts.open_for_circuit(session, built.clock, SYSTEM, circuit_id)
        xml = draft.bpmn_files[draft.main_file]
        renamed = xml.replace('name="Analyser la demande et proposer une orientation"',
                              'name="Analyser la demande"')
        assert renamed != xml
        saved = drafts.save(session, built.clock, SYSTEM, draft.id, draft.revision, renamed)
        version = drafts.deploy(session, built.clock, SYSTEM, draft.id, saved.revision,
                                "Nom plus court")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/circuits/{circuit_id}/changements"
              f"?de={draft.base_version_id}&a={version.id}")
    page.wait_for_selector("#diff-ancien[data-ready='true']", timeout=20000)
    page.wait_for_selector("#diff-nouveau[data-ready='true']", timeout=20000)
    page.locator(".diff-diagrams").scroll_into_view_if_needed()
    assert page.locator(f"#diff-nouveau .djs-element.diff-changed[data-element-id='{STEP}']"
                        ).count() == 1
    old = _shape(page, "#diff-ancien", STEP)
    new = _shape(page, "#diff-nouveau", STEP)
    page.screenshot(path=str(SHOTS / "last-diagram-diff.png"))
    after = page.get_by_role("group", name="Schéma après", exact=False).first
    _check_buttons(page, after, "#diff-nouveau", STEP)
    # the two views move together: zooming the right one zooms the left one
    after.get_by_role("button", name="Zoom +").click()
    assert _width(page, "#diff-ancien", STEP) > old["width"] * 1.1
    assert _width(page, "#diff-nouveau", STEP) > new["width"] * 1.1
    assert errors == []


def test_modeler_opens_readable_and_clear_of_the_palette(live_app: LiveApp, browser: Any) -> None:
    coordination_case(live_app, 0)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_app.url, "coord@demo.test")
    page.get_by_role("link", name="Circuits").click()
    section = page.get_by_role("region", name="Plateforme de coordination")
    section.get_by_role("button", name="Modifier le circuit").click()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    page.locator("#modeleur").scroll_into_view_if_needed()
    start = _shape_any(page, "#modeleur-canvas", "C1_S1")
    assert start["width"] >= 30  # a 36-unit event at the designed size
    # no shape of the circuit (pool and lanes aside) is drawn under the palette
    covered = page.evaluate("""() => {
      const canvas = document.querySelector('#modeleur-canvas');
      const palette = canvas.querySelector('.djs-palette').getBoundingClientRect();
      const outer = canvas.getBoundingClientRect();
      const hit = (r) => r.right > palette.left && r.left < palette.right
                         && r.bottom > palette.top && r.top < palette.bottom;
      const inside = (r) => r.right > outer.left && r.left < outer.right
                            && r.bottom > outer.top && r.top < outer.bottom;
      return [...canvas.querySelectorAll('.djs-shape')]
        .filter((g) => !/^(Participant|Lane)/.test(g.dataset.elementId))
        .filter((g) => { const r = g.getBoundingClientRect(); return inside(r) && hit(r); })
        .map((g) => g.dataset.elementId);
    }""")
    assert covered == []
    page.screenshot(path=str(SHOTS / "last-diagram-modeler.png"))
    view = page.get_by_role("group", name="Diagramme du circuit", exact=True)
    page.get_by_label("Élément").select_option(STEP)  # select a step: « Recentrer » goes to it
    view.get_by_role("button", name="Vue d'ensemble").click()
    view.get_by_role("button", name="Recentrer").click()
    _shape(page, "#modeleur-canvas", STEP)
    _check_buttons(page, view, "#modeleur-canvas", STEP)
    assert errors == []


def _shape_any(page: Any, canvas: str, element_id: str) -> dict[str, float]:
    """An element of any size, asserted inside its canvas."""
    boxes = page.evaluate(BOXES, [canvas, element_id])
    outer, shape = boxes["canvas"], boxes["shape"]
    assert shape is not None
    assert outer["x"] <= shape["x"] and shape["x"] + shape["width"] <= outer["x"] + outer["width"]
    assert outer["y"] <= shape["y"] and shape["y"] + shape["height"] <= outer["y"] + outer["height"]
    return {key: float(value) for key, value in shape.items()}
