"""Forms of the circuits pages: deploy a draft, import files as a draft.

The form-file editor's rows and the dry-run protocol live in the engine
(``engine.core.form_editor``, ``engine.core.dryrun``, reached through ``engine.services.drafts``).
"""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import IntegerField, MultipleFileField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp
from wtforms.widgets import HiddenInput


class DeployForm(FlaskForm):  # type: ignore[misc]
    """Deploy a draft: the revision it was checked at, and a note."""

    revision = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    note = TextAreaField(lazy_gettext("Note de version (ce qui change et pourquoi)"),
                         validators=[Length(max=500)])


class ImportForm(FlaskForm):  # type: ignore[misc]
    """Upload BPMN and form files as a new draft."""

    key = StringField(lazy_gettext("Identifiant du circuit (minuscules, chiffres, tirets)"),
                      validators=[DataRequired(), Length(max=60),
                                  Regexp(r"^[a-z][a-z0-9_-]*$")])
    title = StringField(lazy_gettext("Titre du circuit"),
                        validators=[DataRequired(), Length(max=200)])
    files = MultipleFileField(lazy_gettext("Fichiers .bpmn et formulaires .json"))
