"""What an orientation form offers, and how a case's answers read: the services of the
directory matching the household (need domains and commune, free places first) and the
territory's refusal reasons become the choices of the fields that name them; the case page
reads a service's name, an organisation's name and a reason's label instead of their ids
and codes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.directory import SEPARATOR, SUPPORT_MEASURES, fold
from engine.core.forms import Choice, FieldSpec, FormSpec
from engine.core.orientation import ANSWER_FIELDS, commune_of, needs_of
from engine.persistence.models import DirectoryService, Organisation
from engine.services import refusal_reasons

MAX_CHOICES = 200  # services offered on the page
ELSEWHERE = " (hors des besoins ou du secteur du ménage)"
HELP = ("Les services de l'annuaire qui répondent aux besoins du ménage et interviennent sur "
        "sa commune, ceux qui ont des places libres d'abord. Un service complet n'accepte "
        "qu'une inscription en liste d'attente.")


def with_services(session: Session, clock: Clock, territory_id: int, form: FormSpec | None,
                  data: Mapping[str, Any]) -> FormSpec | None:
    """The form as offered: an orientation field becomes a choice of the territory's active
    services matching the household (``needs_of`` its need domains, its commune; a service
    with no commune serves the whole territory), free places first, at most
    ``MAX_CHOICES``; the schema accepts every active service of the territory. Without
    ``data`` (a submission being read), every active service is a choice. An answer form's
    reasons become a multiple choice of the territory's active reasons. A form with neither
    is returned as it is, with no query."""
    return _offering(session, territory_id, form, data)


def as_submitted(session: Session, territory_id: int,
                 form: FormSpec | None) -> FormSpec | None:
    """The form as a submission is read (``tasks.form_of``): every active service of the
    territory is a choice of its orientation fields, every active reason of its answer's."""
    return _offering(session, territory_id, form, {})


def _offering(session: Session, territory_id: int, form: FormSpec | None,
              data: Mapping[str, Any]) -> FormSpec | None:
    if form is None:
        return None
    orienting = form.orientation_fields()
    answering = form.answer_field() is not None
    if not orienting and not answering:
        return form
    schema = copy.deepcopy(form.schema)
    properties = schema.get("properties", {})
    fields: list[FieldSpec] = []
    for spec in form.fields:
        if spec.orientation is not None:
            everyone = _services(session, territory_id)
            choices = _offered(everyone, spec, data) if data else tuple(
                Choice(s["id"], _label(s)) for s in everyone)
            spec = replace(spec, kind="choice", choices=choices, help=spec.help or HELP)
            if isinstance(properties.get(spec.name), dict):
                properties[spec.name]["enum"] = [s["id"] for s in everyone]
        elif answering and spec.name == ANSWER_FIELDS["reasons"]:
            reasons = refusal_reasons.active_of(session, territory_id)
            spec = replace(spec, kind="multichoice",
                           choices=tuple(Choice(r.code, r.label) for r in reasons))
            if isinstance(properties.get(spec.name), dict):
                properties[spec.name]["items"] = {"type": "string",
                                                  "enum": [r.code for r in reasons]}
        fields.append(spec)
    return replace(form, fields=tuple(fields), schema=schema)


def _services(session: Session, territory_id: int) -> list[dict[str, Any]]:
    """The territory's active services of active organisations, best first: the support
    measures a platform orients to (AVDL, ASLL, IML…) before the other services; then free
    places, places not counted, full; by name."""
    rows = session.execute(
        select(DirectoryService.id, DirectoryService.name, Organisation.name,
               DirectoryService.places_available, DirectoryService.waiting_list,
               DirectoryService.domain_tags, DirectoryService.commune_tags,
               DirectoryService.measure)
        .join(Organisation, Organisation.id == DirectoryService.organisation_id)
        .where(DirectoryService.territory_id == territory_id,
               DirectoryService.active.is_(True), Organisation.active.is_(True))).all()
    services = [{"id": r[0], "name": r[1], "organisation": r[2], "places": r[3],
                 "waiting": r[4], "domains": r[5] or "", "communes": r[6] or "",
                 "support": r[7] in SUPPORT_MEASURES} for r in rows]
    return sorted(services, key=lambda s: (not s["support"], _rank(s["places"]),
                                           fold(s["name"]), s["id"]))


def _rank(places: int | None) -> int:
    return 0 if places is not None and places > 0 else 1 if places is None else 2


def _offered(services: list[dict[str, Any]], spec: FieldSpec,
             data: Mapping[str, Any]) -> tuple[Choice, ...]:
    """The matching services first, then, for a coordinator's other choice, the others,
    marked; at most ``MAX_CHOICES``. Among the matching ones, those answering more of the
    household's specific needs (beyond housing) come first, then in the list's order."""
    settings = spec.orientation or {}
    needs = needs_of(data, settings.get("domains") or [])
    commune = commune_of(data, settings.get("commune"))

    def matches(service: dict[str, Any]) -> bool:
        domains = any(f"{SEPARATOR}{d}{SEPARATOR}" in service["domains"] for d in needs)
        where = not commune or not service["communes"] or \
            f"{SEPARATOR}{commune}{SEPARATOR}" in service["communes"]
        return domains and where

    def specific(service: dict[str, Any]) -> int:
        return sum(f"{SEPARATOR}{d}{SEPARATOR}" in service["domains"] for d in needs[1:])

    matching = sorted((s for s in services if matches(s)), key=specific, reverse=True)
    first = [Choice(s["id"], _label(s)) for s in matching]
    others = [Choice(s["id"], _label(s) + ELSEWHERE) for s in services if not matches(s)]
    return tuple((first + others)[:MAX_CHOICES])


def _label(service: Mapping[str, Any]) -> str:
    """« AVDL Alpha · Association Alpha — 3 places libres »."""
    places, waiting = service["places"], service["waiting"]
    if places is None:
        told = "places non renseignées"
    elif places > 0:
        told = "1 place libre" if places == 1 else f"{places} places libres"
    else:
        told = f"complet, liste d'attente : {waiting or 0}"
    return f"{service['name']} · {service['organisation']} — {told}"


def labels_for(session: Session, territory_id: int, fields: Mapping[str, FieldSpec],
               data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Field name → {stored value → what a person reads}, for the case's answers that hold
    an id or a code: a service (its name and organisation), an organisation of a part (its
    name), refusal reasons (their labels, retired ones included). Only the values present
    are read."""
    services = _wanted(fields, data, lambda f: f.orientation is not None)
    organisations = _wanted(fields, data, lambda f: f.part is not None)
    reasons = [str(v) for v in data.get(ANSWER_FIELDS["reasons"]) or []
               if ANSWER_FIELDS["reasons"] in fields] \
        if isinstance(data.get(ANSWER_FIELDS["reasons"]), list) else []
    out: dict[str, dict[str, str]] = {}
    if services:
        named = {str(i): f"{n} ({o})" for i, n, o in session.execute(
            select(DirectoryService.id, DirectoryService.name, Organisation.name)
            .join(Organisation, Organisation.id == DirectoryService.organisation_id)
            .where(DirectoryService.territory_id == territory_id,
                   DirectoryService.id.in_(sorted({i for _, i in services}))))}
        for name, value in services:
            out.setdefault(name, {})[str(value)] = named.get(str(value), "service inconnu")
    if organisations:
        named = {str(i): n for i, n in session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.territory_id == territory_id,
                Organisation.id.in_(sorted({i for _, i in organisations}))))}
        for name, value in organisations:
            out.setdefault(name, {})[str(value)] = named.get(str(value),
                                                             "organisation inconnue")
    if reasons:
        out[ANSWER_FIELDS["reasons"]] = refusal_reasons.labels_of(session, territory_id,
                                                                  reasons)
    return out


def _wanted(fields: Mapping[str, FieldSpec], data: Mapping[str, Any],
            kind: Callable[[FieldSpec], bool]) -> list[tuple[str, int]]:
    """(field name, id) for the answers of the fields ``kind`` picks that hold an id."""
    found = []
    for name, spec in fields.items():
        value = data.get(name)
        if kind(spec) and isinstance(value, int) and not isinstance(value, bool):
            found.append((name, value))
    return found
