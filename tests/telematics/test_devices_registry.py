"""Vehicles' device_ids (contract section 6): which vehicle a reporting device belongs to."""

from __future__ import annotations

from telematics.reference import ReferenceData, Vehicle


def _vehicle(vehicle_id: str, *devices: str) -> Vehicle:
    return Vehicle(vehicle_id, "f", "N3", None, frozenset(), frozenset(devices))


def test_device_lookup() -> None:
    data = ReferenceData(vehicles={"NF-101": _vehicle("NF-101", "356307042441013", "phone-1"),
                                   "NF-102": _vehicle("NF-102")})
    assert data.vehicle_for_device("356307042441013") == "NF-101"
    assert data.vehicle_for_device("phone-1") == "NF-101"
    assert data.vehicle_for_device("NF-102") is None  # a vehicle id is not a device id
    assert _vehicle("X") == Vehicle("X", "f", "N3", None, frozenset())  # device_ids is optional


def test_a_device_listed_twice_belongs_to_no_one() -> None:
    data = ReferenceData(vehicles={"A": _vehicle("A", "unit-9"), "B": _vehicle("B", "unit-9", "unit-10")})
    assert data.vehicle_for_device("unit-9") is None
    assert data.vehicle_for_device("unit-10") == "B"
    data.vehicles = {"A": _vehicle("A", "unit-9")}
    data.reindex()
    assert data.vehicle_for_device("unit-9") == "A"
