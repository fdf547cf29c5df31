"""Circuits (coordinators): versions, activation, export, the modeler and its drafts, checks,
deploy, diff between versions, forms, dry-runs, territory variants and imports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.errors import Conflict, ProcessDefinitionError
from engine.services import circuits, drafts, parsing, parties
from engine.services.results import Problem
from webapp.auth import actor, chosen_territory
from webapp.circuit_form_classes import DeployForm, ImportForm
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text
from webapp.inputs import int_arg

bp = Blueprint("circuits", __name__, url_prefix="/circuits")
ROOT = Path(__file__).resolve().parents[2]


def _reference() -> tuple[Path, Path]:
    """The reference circuits folder and the forms folder (variants and reference diffs)."""
    return (Path(current_app.config.get("REFERENCE_CIRCUITS", ROOT / "processes" / "reference")),
            Path(current_app.config.get("FORMS_ROOT", ROOT / "forms")))


@bp.app_template_global()
def circuit_territories() -> list[int]:
    """Territories whose circuits the signed-in user manages (for the navigation link)."""
    if not current_user.is_authenticated:
        return []
    who = current_user.actor
    return [t for t in who.territories() if who.is_coordinator(t)]


def _territory() -> int:
    """The territory whose circuits are shown (first coordinated one by default)."""
    return chosen_territory(circuit_territories())


def _lang() -> str:
    return "en" if str(get_locale()) == "en" else "fr"


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [p.as_dict(_lang()) for p in problems]


@bp.get("/")
@login_required
def index() -> str:
    """The territory's circuits, their versions and drafts."""
    territory = _territory()
    page = circuits.circuits_page(get_session(), actor(), territory, _reference()[0])
    return render_template("circuits/index.html", rows=page.rows, territory=territory,
                           variants=page.variants, form=EmptyForm())


@bp.post("/<int:circuit_id>/versions/<int:version_id>/activer")
@login_required
def activate(circuit_id: int, version_id: int) -> WerkzeugResponse:
    """Make a version the one new cases start on."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    circuits.activate(get_session(), clock(), actor(), circuit_id, version_id)
    flash(gettext("Version activée : les nouveaux dossiers partiront d'elle ; les dossiers en "
                  "cours restent sur leur version."), "success")
    return redirect(url_for("circuits.index"))


@bp.get("/versions/<int:version_id>/export")
@login_required
def export(version_id: int) -> Response:
    """Download a version's files as a zip."""
    name, data = circuits.export_zip(get_session(), actor(), version_id)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/<int:circuit_id>/modifier")
@login_required
def edit(circuit_id: int) -> WerkzeugResponse:
    """Open (or create) the circuit's draft in the modeler."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    draft = drafts.open_for_circuit(get_session(), clock(), actor(), circuit_id)
    return redirect(url_for("circuits.modeler", draft_id=draft.id))


@bp.get("/brouillons/<int:draft_id>")
@login_required
def modeler(draft_id: int) -> str:
    """The modeler: diagram, side panel, problems, save and deploy."""
    draft = drafts.get(get_session(), actor(), draft_id)
    deploy = DeployForm(revision=draft.revision)
    # the parts a lane may give its steps to, for the side panel
    parts = [{"key": p.key, "label": p.label}
             for p in parties.parts_of(get_session(), actor(), draft.territory_id)]
    return render_template("circuits/modeler.html", draft=draft, deploy=deploy,
                           discard=EmptyForm(), parts=parts)


@bp.get("/brouillons/<int:draft_id>/donnees")
@login_required
def draft_data(draft_id: int) -> Response:
    """What the modeler loads: diagram, revision, forms, date fields, roles, the territory's
    periods, problems."""
    checked = drafts.checked(get_session(), actor(), draft_id)
    draft = checked.draft
    return jsonify(xml=draft.xml, revision=draft.revision, forms=draft.form_names,
                   form_titles=draft.form_titles, date_fields=draft.date_fields,
                   roles=draft.roles, periods=draft.periods,
                   problems=_problems(checked.problems))


@bp.post("/brouillons/<int:draft_id>/enregistrer")
@login_required
def save(draft_id: int) -> tuple[Response, int]:
    """Save the diagram (JSON ``{revision, xml}``) and return the check's findings."""
    try:  # the one JSON door: bounded depth and size, UTF-8 only
        body = parsing.loads(request.get_data(), max_bytes=3 * 1024 * 1024)
    except parsing.JsonError:
        abort(400)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str) \
            or not isinstance(body.get("revision"), int):
        abort(400)
    try:
        result = drafts.save(get_session(), clock(), actor(), draft_id, body["revision"],
                             body["xml"])
    except Conflict as exc:
        return jsonify(error=error_text(exc)), 409
    except ProcessDefinitionError as exc:
        return jsonify(error=gettext("Diagramme refusé."), problems=_problems(exc.problems)), 422
    return jsonify(revision=result.revision, errors=result.errors,
                   problems=_problems(result.problems)), 200


@bp.post("/brouillons/<int:draft_id>/deployer")
@login_required
def deploy(draft_id: int) -> WerkzeugResponse | tuple[str, int]:
    """Deploy the draft as a new version; then show what changed."""
    form = DeployForm()
    if not form.validate_on_submit():
        abort(400)
    draft = drafts.get(get_session(), actor(), draft_id)
    previous = draft.base_version_id
    try:
        version = drafts.deploy(get_session(), clock(), actor(), draft_id, form.revision.data,
                                form.note.data or "")
    except ProcessDefinitionError as exc:
        flash(gettext("Déploiement refusé : le circuit contient %(num)d erreur(s).",
                      num=len(exc.problems)), "error")
        return redirect(url_for("circuits.modeler", draft_id=draft_id))
    except Conflict as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("circuits.modeler", draft_id=draft_id))
    flash(gettext("Version %(number)s déployée : les nouveaux dossiers partent d'elle, les "
                  "dossiers en cours restent sur leur version.", number=version.number),
          "success")
    if previous is None or previous == version.id:
        return redirect(url_for("circuits.index"))
    return redirect(url_for("circuits.diff", circuit_id=version.circuit_id, de=previous,
                            a=version.id))


@bp.post("/brouillons/<int:draft_id>/abandonner")
@login_required
def discard(draft_id: int) -> WerkzeugResponse:
    """Throw the draft away."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    drafts.discard(get_session(), clock(), actor(), draft_id)
    flash(gettext("Brouillon abandonné."), "success")
    return redirect(url_for("circuits.index"))


@bp.get("/<int:circuit_id>/changements")
@login_required
def diff(circuit_id: int) -> str:
    """What changed between two versions (``de``, ``a``) or from the reference (``a`` only)."""
    new_id, old_id = int_arg("a"), int_arg("de")
    if new_id is None:
        abort(404)
    if old_id is None:
        reference, forms_root = _reference()
        view = circuits.diff_reference(get_session(), actor(), circuit_id, new_id, reference,
                                       forms_root)
    else:
        view = circuits.diff_versions(get_session(), actor(), circuit_id, old_id, new_id)
    listed = circuits.versions(get_session(), actor(), circuit_id)
    return render_template("circuits/diff.html", view=view, versions=listed, old_id=old_id,
                           new_id=new_id)


# --------------------------------------------------------------------------- forms

@bp.get("/brouillons/<int:draft_id>/formulaires")
@login_required
def forms(draft_id: int) -> str:
    """The draft's form files."""
    draft = drafts.get(get_session(), actor(), draft_id)
    return render_template("circuits/forms.html", draft=draft, names=draft.form_names)


@bp.get("/brouillons/<int:draft_id>/formulaires/nouveau")
@login_required
def form_new(draft_id: int) -> WerkzeugResponse:
    """Start a new form file (its name from ``nom``)."""
    drafts.get(get_session(), actor(), draft_id)
    name = request.args.get("nom", "").strip()
    if not name.endswith(".json"):
        name += ".json"
    return redirect(url_for("circuits.form_edit", draft_id=draft_id, name=name))


@bp.route("/brouillons/<int:draft_id>/formulaires/<path:name>", methods=["GET", "POST"])
@login_required
def form_edit(draft_id: int, name: str) -> str | WerkzeugResponse | tuple[str, int]:
    """Edit a form's fields with a live preview; ``action=enregistrer`` saves it."""
    posted = request.form.to_dict() if request.method == "POST" else None
    action = request.form.get("action", "")
    if action == "enregistrer" and not EmptyForm().validate_on_submit():
        abort(400)
    editor = drafts.edit_form(get_session(), clock(), actor(), draft_id, name, posted, action,
                              _lang())
    if editor.saved_revision is not None:
        flash(gettext("Formulaire %(name)s enregistré dans le brouillon.", name=name), "success")
        return redirect(url_for("circuits.forms", draft_id=draft_id))
    if name in editor.draft.called_forms:  # a called circuit's form: back to this one's list
        flash(editor.errors[0], "error")
        return redirect(url_for("circuits.forms", draft_id=draft_id))
    page = render_template("circuits/form_edit.html", draft=editor.draft, name=name,
                           rows=editor.rows, title=editor.title, errors=editor.errors,
                           spec=editor.spec, form=EmptyForm())
    return (page, 422) if editor.errors and posted is not None else page


@bp.post("/brouillons/<int:draft_id>/apercu/<path:name>")
@login_required
def form_preview(draft_id: int, name: str) -> str:
    """The live preview of a form being edited (HTML fragment, same macro as the task page)."""
    editor = drafts.edit_form(get_session(), clock(), actor(), draft_id, name,
                              request.form.to_dict(), "apercu", _lang())
    return render_template("circuits/_preview.html", spec=editor.spec, errors=editor.errors)


# --------------------------------------------------------------------------- variants, import

@bp.post("/variante")
@login_required
def variant() -> WerkzeugResponse:
    """Copy a reference circuit into the territory as its draft."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    reference, forms_root = _reference()
    draft = drafts.copy_reference(get_session(), clock(), actor(), _territory(), reference,
                                  forms_root, request.form.get("key", ""))
    flash(gettext("Circuit de référence copié : modifiez-le puis déployez-le."), "success")
    return redirect(url_for("circuits.modeler", draft_id=draft.id))


@bp.route("/importer", methods=["GET", "POST"])
@login_required
def import_files() -> str | WerkzeugResponse | tuple[str, int]:
    """Upload .bpmn (+ .json forms) files made with another modeler as a draft."""
    territory = _territory()  # the page, as its POST, is for a territory's coordination
    form = ImportForm()
    problems: list[Problem] = []
    if form.validate_on_submit():
        files = {f.filename or "": f.read() for f in request.files.getlist("files") if f}
        try:
            draft = drafts.import_files(get_session(), clock(), actor(), territory,
                                        form.key.data, form.title.data, files)
        except ProcessDefinitionError as exc:
            problems = exc.problems
        else:
            flash(gettext("Fichiers importés dans un brouillon."), "success")
            return redirect(url_for("circuits.modeler", draft_id=draft.id))
    page = render_template("circuits/import.html", form=form, problems=_problems(problems))
    return (page, 422) if problems or form.errors else page


# --------------------------------------------------------------------------- dry-run

@bp.route("/brouillons/<int:draft_id>/essai", methods=["GET", "POST"])
@login_required
def dry_run(draft_id: int) -> str | tuple[str, int]:
    """Walk the draft with test answers and simulated time; nothing is stored."""
    if request.method == "POST" and not EmptyForm().validate_on_submit():
        abort(400)
    page = drafts.dry_run_step(get_session(), actor(), draft_id, _dry_run_posted(),
                               clock().now(), _lang())
    outcome = page.outcome
    html = render_template("circuits/dry_run.html", draft=page.draft, state=outcome.state,
                           run=outcome.run, problems=_problems(page.problems),
                           errors=outcome.errors, form=EmptyForm(),
                           draft_start_form=outcome.start_form)
    return (html, 422) if outcome.errors or page.problems else html


def _dry_run_posted() -> drafts.Posted:
    """The dry-run request as the page posted it (nothing on GET: a fresh walk)."""
    if request.method != "POST":
        return drafts.Posted()
    form = request.form
    return drafts.Posted(action=form.get("action", ""), start=form.get("start", ""),
                         data=form.get("data", ""), steps=form.get("steps", ""),
                         task=form.get("task", ""), duration=form.get("duree", ""),
                         message=form.get("message", ""),
                         answers=form.to_dict(flat=False))
