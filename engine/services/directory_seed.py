"""The directory's synthetic entries: the demo territory's services (all invented) and bulk
bench data. Kept apart from ``directory`` (the use cases): data tables, not rules."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.directory import DOMAINS, MEASURES, searchable, tags
from engine.persistence.db import table, transaction
from engine.persistence.models import DirectoryService, Organisation
from engine.services import directory
from engine.services.access import SYSTEM
from engine.services.directory import Entry

# the demo territory's services, all invented: (organisation part, measure, name, domains,
# communes, capacity, places, public, walk-in hours, appointment hours, languages)
DEMO: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], int | None, int | None,
                  str, str, str, str], ...] = (
    ("operator", "avdl", "AVDL Relais — secteur nord", ("housing",),
     ("Démoville", "Val-du-Nord", "Les Aulnes"), 40, 3,
     "Ménages reconnus prioritaires, personnes sortant de la rue", "",
     "Lundi au vendredi, 9 h – 17 h", "français, anglais"),
    ("operator", "asll", "ASLL Relais", ("housing", "finance"), ("Démoville",), 25, 0,
     "Ménages aidés par le FSL", "Mardi 14 h – 17 h", "Sur rendez-vous, du lundi au jeudi",
     "français"),
    ("operator", "iml", "Intermédiation locative Relais", ("housing",),
     ("Démoville", "Saint-Clair-sur-Démo"), 30, 2, "Ménages aux ressources faibles", "",
     "Sur rendez-vous", "français, arabe"),
    ("operator", "chrs_hors_les_murs", "CHRS hors les murs Relais",
     ("housing", "habitat", "nonrecourse"), ("Démoville",), 15, 1,
     "Personnes isolées après une longue errance", "Lundi, mercredi 9 h – 12 h",
     "Sur rendez-vous", "français"),
    ("operator_b", "avdl", "AVDL Horizon — secteur sud", ("housing",),
     ("Démoville", "Bourg-Sud", "Les Tilleuls"), 35, 5, "Ménages en sortie d'hébergement", "",
     "Lundi au vendredi, 9 h – 18 h", "français, espagnol"),
    ("operator_b", "avdl_renforce", "AVDL renforcé Horizon", ("housing", "mental"),
     ("Démoville",), 12, 0, "Situations complexes, troubles psychiques", "",
     "Sur rendez-vous", "français"),
    ("operator_b", "asll", "ASLL Horizon", ("housing", "finance"), ("Bourg-Sud",), 20, 4,
     "Ménages aidés par le FSL", "Jeudi 9 h – 12 h", "Sur rendez-vous", "français"),
    ("operator_b", "un_chez_soi_d_abord", "Un chez soi d'abord Démoville",
     ("housing", "mental", "addict"), ("Démoville", "Val-du-Nord"), 100, 2,
     "Personnes sans abri avec des troubles psychiques sévères", "",
     "Sur orientation de la plateforme", "français, anglais"),
    ("operator_b", "iml", "Horizon Location solidaire", ("housing",), ("Bourg-Sud",), 18, 0,
     "Familles monoparentales", "", "Sur rendez-vous", "français"),
    ("specialised", "partenaire_specialise", "Équipe mobile santé précarité",
     ("addict", "mental"), ("Démoville", "Val-du-Nord", "Bourg-Sud"), None, None,
     "Personnes à la rue ou récemment logées", "Lundi au vendredi, 10 h – 16 h", "",
     "français, anglais, interprétariat par téléphone"),
    ("specialised", "maraude", "Maraude de nuit Démoville", ("nonrecourse", "safety"),
     ("Démoville",), None, None, "Personnes à la rue", "Tous les soirs, 20 h – 1 h", "",
     "français"),
    ("referrer", "service_social_polyvalent", "Accueil social du CCAS", ("finance", "autonomy"),
     ("Démoville",), None, None, "Habitants de Démoville", "Lundi au vendredi, 8 h 30 – 12 h",
     "Après-midi sur rendez-vous", "français"),
    ("referrer", "accueil_de_jour", "Accueil de jour Le Phare", ("nonrecourse", "habitat"),
     ("Démoville",), 60, 12, "Toute personne sans domicile", "Tous les jours, 8 h – 14 h", "",
     "français, anglais, roumain"),
    ("landlord", "bailleur_social", "Démo Habitat — accompagnement des locataires",
     ("housing", "finance"), ("Démoville", "Bourg-Sud", "Val-du-Nord"), None, None,
     "Locataires de Démo Habitat en difficulté", "", "Sur rendez-vous en agence", "français"),
    ("platform", "sao", "Point d'accueil et d'orientation de la plateforme",
     ("housing", "nonrecourse", "inst_exit"), ("Démoville",), None, None,
     "Toute personne sans solution de logement", "Lundi et jeudi, 9 h – 12 h",
     "Sur rendez-vous", "français, anglais"),
)


# where each demo organisation's services are reached (``.invalid``: never a real inbox); an
# orientation's notice and its answer link go there
EMAILS = {"operator": "orientations@relais.exemple.invalid",
          "operator_b": "accueil@horizon.exemple.invalid",
          "specialised": "equipe-mobile@sante.exemple.invalid",
          "referrer": "accueil-social@ccas.exemple.invalid",
          "landlord": "accompagnement@demo-habitat.exemple.invalid",
          "platform": "plateforme@demoville.exemple.invalid"}


# what the demo's services say of themselves (invented, in the field's words)
BLURBS = {
    "avdl": "Accompagnement des ménages vers un logement puis dans ce logement : recherche, "
            "installation, maintien.",
    "avdl_renforce": "AVDL à fréquence renforcée pour les situations complexes, en lien avec "
                     "le soin.",
    "asll": "Accompagnement social lié au logement, financé par le FSL : budget, démarches, "
            "relation au bailleur.",
    "iml": "Logements loués ou gérés par l'association et sous-loués aux ménages, avec un "
           "accompagnement.",
    "chrs_hors_les_murs": "L'accompagnement d'un CHRS, dans un logement ordinaire.",
    "un_chez_soi_d_abord": "Logement d'abord pour des personnes sans abri avec des troubles "
                           "psychiques sévères : logement direct et équipe pluridisciplinaire.",
    "partenaire_specialise": "Équipe de soins qui se déplace : évaluation, accès aux soins, "
                             "appui aux équipes d'accompagnement.",
    "maraude": "Équipe de rue : premier contact, orientation, aller-vers.",
    "service_social_polyvalent": "Accueil social de droit commun : accès aux droits, aides "
                                 "facultatives, domiciliation.",
    "accueil_de_jour": "Accueil inconditionnel : repos, douches, repas, orientation.",
    "bailleur_social": "Chargée d'accompagnement des locataires : impayés, troubles de "
                       "voisinage, mutations.",
    "sao": "Accueil, évaluation et orientation des personnes sans solution de logement.",
}


def seed_demo(session: Session, clock: Clock, territory_id: int,
              organisations: Mapping[str, int]) -> int:
    """Give the demo territory its directory (``organisations``: part → organisation id, as
    the demo names them); the number of services created."""
    for (part, measure, name, domains, communes, capacity, places, public, walk_in,
         appointment, languages) in DEMO:
        directory.create(session, clock, SYSTEM, territory_id, Entry(
            organisation_id=organisations[part], measure=measure, name=name,
            description=BLURBS.get(measure, "Partenaire du territoire."), domains=domains,
            communes=communes,
            public=public, capacity=capacity, places_available=places,
            phone="05 00 00 00 00", email=EMAILS.get(part, "contact@exemple.invalid"),
            address="1 place de la Mairie, Démoville", hours_walk_in=walk_in,
            hours_appointment=appointment, languages=languages,
            charter_signed=part != "landlord"))
    return len(DEMO)


WORDS = ("Relais", "Horizon", "Passerelle", "Escale", "Boussole", "Tremplin", "Étape",
         "Ancrage", "Abri", "Cap")
COMMUNES = tuple(f"Commune {i:03d}" for i in range(120)) + ("Démoville", "Bourg-Sud")


def generate(session: Session, clock: Clock, territory_id: int, count: int,
             seed: int = 2026, on_batch: Callable[[int], None] | None = None) -> int:
    """Bench data: ``count`` synthetic services over the territory's organisations (bulk
    insert, no audit); the number created."""
    with transaction(session):
        return _generate(session, clock, territory_id, count, random.Random(seed), on_batch)


def _generate(session: Session, clock: Clock, territory_id: int, count: int,
              rng: random.Random, on_batch: Callable[[int], None] | None) -> int:
    organisations = [(i, n) for i, n in session.execute(select(
        Organisation.id, Organisation.name).where(Organisation.territory_id == territory_id))]
    if not organisations:
        return 0
    measures, domains = list(MEASURES), list(DOMAINS)
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for n in range(count):
        organisation_id, organisation = rng.choice(organisations)
        measure = rng.choice(measures)
        name = f"{MEASURES[measure].split(' — ')[0]} {rng.choice(WORDS)} {n}"
        chosen = rng.sample(domains, rng.randint(1, 3))
        communes = rng.sample(COMMUNES, rng.randint(1, 6))
        capacity = rng.choice((None, 10, 20, 40, 100))
        places = None if capacity is None else rng.randint(0, min(capacity, 6))
        description = f"Service {n} : {MEASURES[measure]} pour {rng.choice(WORDS).lower()}."
        rows.append({
            "territory_id": territory_id, "organisation_id": organisation_id,
            "measure": measure, "name": name, "description": description,
            "domains": chosen, "communes": communes, "public": "", "capacity": capacity,
            "places_available": places, "waiting_list": None, "phone": "", "email": "",
            "address": "", "hours_walk_in": "", "hours_appointment": "", "languages": "",
            "charter_signed": True, "active": rng.random() > 0.05,
            "search_text": searchable(name, description, organisation, measure),
            "domain_tags": tags(chosen), "commune_tags": tags(communes),
            "created_at": now, "updated_at": now, "updated_by_id": None})
        if len(rows) == 500:
            session.execute(table(DirectoryService).insert(), rows)
            rows = []
            if on_batch:
                on_batch(n + 1)
    if rows:
        session.execute(table(DirectoryService).insert(), rows)
    return count
