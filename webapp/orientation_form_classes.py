"""Forms of the refusal reasons page (Flask-WTF, CSRF): add a reason. The rows of the list
post plain fields with the CSRF token (one small form per reason); the service checks
everything again."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from engine.services.orientations import MAX_REASON_CODE, MAX_REASON_LABEL


class ReasonForm(FlaskForm):  # type: ignore[misc]
    """Add a refusal reason to the territory's list."""

    label = StringField(lazy_gettext("Intitulé du motif"), validators=[
        DataRequired(lazy_gettext("Indiquez l'intitulé du motif.")),
        Length(max=MAX_REASON_LABEL)])
    code = StringField(lazy_gettext("Code (facultatif : tiré de l'intitulé sinon)"),
                       validators=[Optional(), Length(max=MAX_REASON_CODE), Regexp(
                           r"^[a-z0-9_]+$", message=lazy_gettext(
                               "Lettres minuscules sans accent, chiffres et « _ » seulement."))])
    needs_detail = BooleanField(lazy_gettext("Demande une précision à l'opérateur"))
