import json

import pytest

from cfdgen import registry
from cfdgen.case import case_schema
from cfdgen.units import UNITS, length_to_mm, to_si


def test_every_name_is_snake_case_and_unique():
    keys = list(registry.FIELDS) + list(registry.MORPHOLOGY)
    assert len(keys) == len(set(keys))
    for k in keys:
        assert k == k.lower() and " " not in k


def test_required_wall_fields_present_with_units_and_kinds():
    need = {
        "tawss": "Pa",
        "osi": "1",
        "rrt": "1/Pa",
        "ecap": "1/Pa",
        "twssg": "Pa/s",
        "wssg": "Pa/m",
        "tap": "Pa",
        "ntawss": "1",
        "wss_mean": "Pa",
    }
    for key, unit in need.items():
        assert registry.field(key).unit == unit
    assert registry.field("wss_mean").kind == "vector" and registry.field("wss_mean").ncomp == 3
    assert registry.field("tawss").kind == "scalar"
    targets = {f.key for f in registry.target_fields()}
    assert {"tawss", "osi", "tap", "wss_mean"} <= targets


def test_unknown_field_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown field 'tawz'"):
        registry.field("tawz")


def test_patch_names():
    assert registry.outlet(0) == "outlet_0" and registry.outlet_index("outlet_12") == 12
    assert registry.patch_kind("inlet") == "inlet" and registry.patch_kind("wall") == "wall"
    assert registry.patch_kind(registry.outlet(3)) == "outlet"
    for bad in ("outlet", "outlet_x", "Inlet", "outlet_-1"):
        with pytest.raises(ValueError):
            registry.patch_kind(bad)
    with pytest.raises(ValueError):
        registry.outlet(-1)


def test_schema_units_are_all_convertible():
    """Every unit the case schema accepts has a conversion factor (and no more silently pass)."""
    defs = case_schema()["$defs"]
    quantity = {"velocity": "velocity", "flow": "flow", "heart_rate": "frequency", "pressure": "pressure"}
    for d, q in quantity.items():
        assert set(defs[d]["properties"]["unit"]["enum"]) <= set(UNITS[q])
    for u in case_schema()["properties"]["input"]["properties"]["units"]["enum"]:
        assert u == "auto" or length_to_mm(u) > 0
    json.dumps(case_schema())


def test_unit_conversions():
    assert to_si(35, "cm/s", "velocity") == pytest.approx(0.35)
    assert to_si(120, "mmHg", "pressure") == pytest.approx(15998.69, rel=1e-5)
    assert to_si(60, "bpm", "frequency") == pytest.approx(1.0)
    assert to_si(240, "mL/min", "flow") == pytest.approx(4e-6)
    assert length_to_mm("m") == 1000.0
    with pytest.raises(ValueError, match="unknown velocity unit 'knots'"):
        to_si(1, "knots", "velocity")
