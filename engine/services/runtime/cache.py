"""The compiled-circuit cache: one compiled circuit per stored version, per process."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from sqlalchemy.orm import Session

from engine.core.bundles import CircuitBundle, Period, Role
from engine.core.spiff import serializer
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.persistence.models import (
    Circuit,
    CircuitVersion,
    Territory,
)
from engine.services.runtime.statements import CHECKSUM

_CACHE: OrderedDict[tuple[int, str], CompiledCircuit] = OrderedDict()
_CACHE_LOCK = Lock()
CACHE_SIZE = 64


def bundle_of(version: CircuitVersion, territory: Territory) -> CircuitBundle:
    """The files of a stored version, as a bundle."""
    return CircuitBundle(
        process_id=version.process_id, main_file=version.main_file,
        bpmn={k: v.encode() for k, v in version.bpmn_files.items()},
        forms={k: v.encode() for k, v in version.form_files.items()},
        roles=tuple(Role(r["key"], r["label"]) for r in territory.roles),
        holiday_subdivision=territory.holiday_subdivision,
        periods=tuple(Period(p["key"], p["label"], p["from"], p["to"])
                      for p in territory.periods or []))


def compiled(session: Session, version_id: int, checksum: str | None = None) -> CompiledCircuit:
    """The compiled circuit of a version (cached per process; specs come from the row).

    Versions are immutable; on a hit only the checksum is needed (never the 250 KB row); it
    guards against an id reused by another database in the same process (tests). Callers
    that already read it (``lock``) pass it and no query runs at all.
    """
    if checksum is None:
        checksum = session.scalar(CHECKSUM, {"version_id": version_id})
    key = (version_id, str(checksum))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    version = session.get(CircuitVersion, version_id)
    assert version is not None
    circuit = session.get(Circuit, version.circuit_id)
    territory = session.get(Territory, circuit.territory_id) if circuit else None
    assert territory is not None
    result = compile_circuit(bundle_of(version, territory))
    # cases run on the spec stored at deploy time, whatever today's compiler would produce
    result.spec_json = version.spec
    result.spec, result.subprocess_specs = serializer.restore_spec(version.spec)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


