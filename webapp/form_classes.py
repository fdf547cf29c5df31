"""Flask-WTF form classes built in views (never in templates).

Not the forms a circuit's steps show: those are specs of the engine (``engine.core.forms``,
reached through the services) rendered by ``templates/macros/forms.html``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length


def chosen_id(value: object) -> int | None:
    """A select's id, or None for its empty « Choisissez… » option (then InputRequired says
    what to choose); a forged value fails the select's own choice check."""
    if value in ("", None):
        return None
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return -1  # no such choice: « Not a valid choice »


def choose_first(label: str, choices: list[tuple[int, str]]) -> list[tuple[object, str]]:
    """The choices after an empty first option, so that nothing is picked by default."""
    return [("", label), *choices]


class LoginForm(FlaskForm):  # type: ignore[misc]
    """Sign in with e-mail and password."""

    email = EmailField(lazy_gettext("Adresse e-mail"),
                       validators=[DataRequired("Indiquez votre adresse e-mail."),
                                   Length(max=254)])
    password = PasswordField(lazy_gettext("Mot de passe"), validators=[
        DataRequired("Indiquez votre mot de passe."), Length(max=200)])


class PasswordForm(FlaskForm):  # type: ignore[misc]
    """Change one's own password: the current one, then the new one twice."""

    current = PasswordField(lazy_gettext("Mot de passe actuel"), validators=[
        DataRequired(lazy_gettext("Indiquez votre mot de passe actuel.")), Length(max=200)])
    new = PasswordField(lazy_gettext("Nouveau mot de passe (12 caractères au moins)"),
                        validators=[
        DataRequired(lazy_gettext("Indiquez un nouveau mot de passe.")),
        Length(min=12, max=200, message=lazy_gettext("Entre 12 et 200 caractères."))])
    confirm = PasswordField(lazy_gettext("Nouveau mot de passe, une seconde fois"), validators=[
        DataRequired(lazy_gettext("Indiquez une seconde fois le nouveau mot de passe.")),
        EqualTo("new", lazy_gettext("Les deux saisies du nouveau mot de passe diffèrent."))])


class EmptyForm(FlaskForm):  # type: ignore[misc]
    """A POST-only button (claim, unclaim, sign out...): carries the CSRF token."""


class AssignForm(FlaskForm):  # type: ignore[misc]
    """Coordinator: give a step to someone."""

    user_id = SelectField(lazy_gettext("Confier à"), coerce=int)


class CloseForm(FlaskForm):  # type: ignore[misc]
    """Close or cancel a case with a reason."""

    reason = TextAreaField(lazy_gettext("Motif"), validators=[DataRequired("Indiquez un motif."),
                                                              Length(max=500)])


class SearchForm(FlaskForm):  # type: ignore[misc]
    """Case search (GET, no CSRF)."""

    class Meta:
        csrf = False

    q = StringField(lazy_gettext("Référence ou nom du ménage"), validators=[Length(max=100)])
