"""The territory's directory of services (annuaire): who runs which measure where, with its
places, and the history of those places."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class DirectoryService(Base):
    """A service an organisation runs in a territory: a support measure (AVDL, ASLL, IML…) or
    a specialised partner's service, with the communes it serves and its places."""

    __tablename__ = "directory_service"
    __table_args__ = (
        # the directory list: a territory's active entries by name (filters read the row)
        Index("ix_directory_service_list", "territory_id", "active", "name", "id"),
        Index("ix_directory_service_measure", "territory_id", "measure", "active", "name"),
        Index("ix_directory_service_organisation", "organisation_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    measure: Mapped[str] = mapped_column(String(40))  # engine.core.directory.MEASURES
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)  # DOMAINS keys
    communes: Mapped[list[str]] = mapped_column(JSON, default=list)  # commune names
    public: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int | None] = mapped_column()
    places_available: Mapped[int | None] = mapped_column()
    waiting_list: Mapped[int | None] = mapped_column()
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    hours_walk_in: Mapped[str] = mapped_column(String(500), default="")
    hours_appointment: Mapped[str] = mapped_column(String(500), default="")
    languages: Mapped[str] = mapped_column(String(300), default="")
    charter_signed: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # what search and filters compare, folded (lower case, no accents): name, description
    # and organisation; ``|domain|…|`` and ``|commune|…|``
    search_text: Mapped[str] = mapped_column(Text, default="")
    domain_tags: Mapped[str] = mapped_column(String(400), default="")
    commune_tags: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class DirectoryPlaceChange(Base):
    """One change of a service's places available: when, who, from, to, why."""

    __tablename__ = "directory_place_change"
    __table_args__ = (Index("ix_directory_place_change_service", "service_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("directory_service.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    before: Mapped[int | None] = mapped_column()
    after: Mapped[int | None] = mapped_column()
    comment: Mapped[str] = mapped_column(String(500), default="")
