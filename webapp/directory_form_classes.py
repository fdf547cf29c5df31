"""Forms of the directory pages (Flask-WTF, CSRF): an entry, its places, a CSV import.

Numbers are text fields checked by a pattern, so that a wrong one gets a French message
(WTForms' own integer parsing answers in English). The service checks everything again.
"""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from engine.services.directory import MAX_COMMENT

NUMBER = Regexp(r"^\s*[0-9]{1,6}\s*$",
                message=lazy_gettext("Indiquez un nombre entier (de 0 à 100 000)."))
REQUIRED = lazy_gettext("Ce champ est à renseigner.")


def number_or_none(text: str | None) -> int | None:
    """A checked number field's value (None when empty)."""
    return int(text) if text and text.strip() else None


class ServiceForm(FlaskForm):  # type: ignore[misc]
    """Create or edit a directory entry."""

    organisation_id = SelectField(lazy_gettext("Organisation qui porte le service"), coerce=int,
                                  validators=[InputRequired(REQUIRED),
                                              NumberRange(min=1, message=REQUIRED)])
    measure = SelectField(lazy_gettext("Type de mesure ou de service"),
                          validators=[InputRequired(REQUIRED)])
    name = StringField(lazy_gettext("Nom du service"),
                       validators=[DataRequired(REQUIRED), Length(max=200)])
    description = TextAreaField(lazy_gettext("Présentation"), validators=[Length(max=2000)])
    domains = SelectMultipleField(lazy_gettext("Domaines de besoin couverts"),
                                  option_widget=CheckboxInput(),
                                  widget=ListWidget(prefix_label=False))
    communes = TextAreaField(lazy_gettext("Communes ou secteurs desservis (un par ligne)"),
                             validators=[Length(max=20000)])
    public = StringField(lazy_gettext("Public accueilli"), validators=[Length(max=500)])
    capacity = StringField(lazy_gettext("Capacité (nombre de places en tout)"),
                           validators=[Optional(), NUMBER])
    places_available = StringField(lazy_gettext("Places disponibles"),
                                   validators=[Optional(), NUMBER])
    waiting_list = StringField(lazy_gettext("Ménages en liste d'attente"),
                               validators=[Optional(), NUMBER])
    phone = StringField(lazy_gettext("Téléphone"), validators=[Length(max=40)])
    email = StringField(lazy_gettext("Adresse e-mail"), validators=[
        Optional(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=lazy_gettext("Adresse e-mail invalide."))])
    address = StringField(lazy_gettext("Adresse"), validators=[Length(max=300)])
    hours_walk_in = TextAreaField(lazy_gettext("Horaires d'accueil sans rendez-vous"),
                                  validators=[Length(max=500)])
    hours_appointment = TextAreaField(lazy_gettext("Horaires sur rendez-vous"),
                                      validators=[Length(max=500)])
    languages = StringField(lazy_gettext("Langues parlées, interprétariat"),
                            validators=[Length(max=300)])
    charter_signed = BooleanField(lazy_gettext("Charte de la plateforme signée"))
    comment = StringField(lazy_gettext("Si les places changent : pourquoi"),
                          validators=[Length(max=MAX_COMMENT)])


class PlacesForm(FlaskForm):  # type: ignore[misc]
    """Update the places available now, with a comment kept in the history."""

    places = StringField(lazy_gettext("Places disponibles aujourd'hui"),
                         validators=[InputRequired(REQUIRED), NUMBER])
    waiting_list = StringField(lazy_gettext("Ménages en liste d'attente"),
                               validators=[Optional(), NUMBER])
    comment = StringField(lazy_gettext("Commentaire (ce qui a changé)"),
                          validators=[DataRequired(REQUIRED), Length(max=MAX_COMMENT)])


class ImportForm(FlaskForm):  # type: ignore[misc]
    """Upload a CSV file of entries."""

    file = FileField(lazy_gettext("Fichier CSV (séparateur point-virgule, UTF-8)"))
