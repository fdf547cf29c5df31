"""Statistics for the State (issue #16): the page of indicators with their charts and tables,
and its CSV export, for those who oversee a territory (coordination, administration)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_login import current_user, login_required

from engine.errors import InvalidInput
from engine.services import statistics
from engine.services.access import statistics_territories
from webapp import csv_export
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.i18n import error_text
from webapp.inputs import int_arg

bp = Blueprint("statistics", __name__, url_prefix="/statistiques")


@bp.app_template_global()
def statistics_places() -> list[int]:
    """Territories whose statistics the signed-in user reads (for the navigation link)."""
    return statistics_territories(current_user.actor) if current_user.is_authenticated else []


def _asked() -> statistics.Statistics:
    """The statistics the query asks for (``territoire``, ``debut``, ``fin``).

    :raises PermissionDenied: a territory the user does not oversee (before the dates).
    :raises InvalidInput: a day not understood or a period ending before it starts.
    """
    return statistics.asked(get_session(), clock(), actor(), request.args.get("debut"),
                            request.args.get("fin"), int_arg("territoire"))


@bp.get("/")
@login_required
def index() -> tuple[str, int] | str:
    """Every indicator with its chart and its table; a bad period is said above the form."""
    places = statistics.places(get_session(), actor())
    try:
        stats = _asked()
    except InvalidInput as refused:
        if not places:
            raise
        return render_template("statistics/index.html", stats=None, places=places,
                               args=request.args, error=error_text(refused)), 422
    return render_template("statistics/index.html", stats=stats, places=places,
                           args=request.args, error=None)


@bp.get("/export.csv")
@login_required
def export() -> Response:
    """The aggregates as CSV (French headers, small counts as « < 5 »)."""
    stats = _asked()  # refuses before the stream starts
    name = f"aiguillage-statistiques-{stats.period.start:%Y%m%d}-{stats.period.end:%Y%m%d}.csv"
    return csv_export.response(statistics.csv_rows(stats), name)
