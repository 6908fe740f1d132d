"""Case format: valid cases load into SI with defaults named; every violation is one line naming file and field."""

import math
import textwrap

import pytest

from cfdgen import reference
from cfdgen.case import load_case
from cfdgen.errors import CaseError
from iahemo.cli import main

GOOD = """\
id: p001
input: {surface: surface.vtp, units: mm}
patient: {age: 71, sex: F, population: japanese, hypertension: true, earlier_sah: false, site: MCA}
measurements:
  doppler:
    mean_velocity: {value: 35, sd: 4, unit: cm/s}
    heart_rate: {value: 75, sd: 3, unit: bpm}
  pressure_wire:
    mean: {value: 95, sd: 4, unit: mmHg}
"""


def write(tmp_path, text, surface=True):
    if surface:
        (tmp_path / "surface.vtp").write_text("placeholder")
    p = tmp_path / "case.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def errors_of(path) -> list[str]:
    with pytest.raises(CaseError) as exc:
        load_case(path)
    lines = str(exc.value).splitlines()
    assert lines == exc.value.problems
    for line in lines:
        assert line.startswith(str(path) + ": ")
    return lines


def test_good_case_in_si(tmp_path):
    case = load_case(write(tmp_path, GOOD))
    m = case.measurements
    assert case.id == "p001" and case.surface == tmp_path / "surface.vtp"
    assert m.mean_velocity.value == pytest.approx(0.35) and m.mean_velocity.sd == pytest.approx(0.04)
    assert m.heart_period.value == pytest.approx(0.8)
    assert m.heart_period.sd == pytest.approx(3 / 60 / (75 / 60) ** 2)
    assert m.mean_pressure.value == pytest.approx(95 * 133.322387415)
    assert case.defaults_used == ()
    assert case.patient.population == "japanese"


def test_missing_measurements_fall_back_to_reference_defaults(tmp_path):
    case = load_case(write(tmp_path, "id: p002\ninput: {surface: surface.vtp}\n"))
    m = case.measurements
    assert set(case.defaults_used) == {"doppler.mean_velocity", "doppler.heart_rate", "pressure_wire.mean"}
    assert m.mean_velocity.value == reference.MEAN_VELOCITY and m.mean_velocity.source == "default"
    assert m.heart_period.value == reference.CARDIAC_PERIOD
    assert m.heart_period.sd == pytest.approx((1.1 - 0.75) / math.sqrt(12))
    assert m.mean_pressure.value == 0.0


def test_flow_instead_of_velocity_and_map_from_systolic_diastolic(tmp_path):
    text = """\
    id: p003
    input: {surface: surface.vtp}
    measurements:
      doppler: {mean_flow: {value: 240, unit: mL/min}}
      pressure_wire: {systolic: {value: 120, unit: mmHg}, diastolic: {value: 81, unit: mmHg}}
    """
    case = load_case(write(tmp_path, text))
    m = case.measurements
    assert m.mean_velocity is None and m.mean_flow.value == pytest.approx(4e-6)
    assert m.mean_pressure.value == pytest.approx(94 * 133.322387415) and m.mean_pressure.source == "derived"
    assert case.defaults_used == ("doppler.heart_rate",)


@pytest.mark.parametrize(
    "text, field, fragment",
    [
        ("input: {surface: surface.vtp}\n", "(top level)", "required field 'id' is missing"),
        (
            GOOD.replace("value: 35,", "value: -35,"),
            "measurements.doppler.mean_velocity.value",
            "must be > 0 (got -35)",
        ),
        (GOOD.replace("unit: cm/s", "unit: knots"), "measurements.doppler.mean_velocity.unit", "unknown unit 'knots'"),
        (GOOD.replace("sex: F", "sex: X"), "patient.sex", "unknown value 'X'"),
        (GOOD.replace("age: 71", "age: old"), "patient.age", "must be of type number"),
        (GOOD.replace("patient:", "patiend:"), "(top level)", "unknown field 'patiend'"),
        ("id: p9\ninput: {units: mm}\n", "input", "needs a 'surface' or an 'image'"),
        (GOOD.replace("units: mm", "units: furlong"), "input.units", "unknown value 'furlong'"),
        (GOOD.replace("sd: 4, unit: cm/s", "sd: -1, unit: cm/s"), "measurements.doppler.mean_velocity.sd", ">= 0"),
        (GOOD.replace("id: p001", "id: 'bad id'"), "id", "not a valid identifier"),
    ],
)
def test_schema_violation_messages(tmp_path, text, field, fragment):
    lines = errors_of(write(tmp_path, text))
    assert any(f": {field}: " in line and fragment in line for line in lines), lines


def test_missing_file_and_inconsistent_pressures(tmp_path):
    p = write(tmp_path, GOOD, surface=False)
    (line,) = errors_of(p)
    assert "input.surface: file not found" in line
    text = GOOD + "    systolic: {value: 70, unit: mmHg}\n    diastolic: {value: 90, unit: mmHg}\n"
    (line,) = errors_of(write(tmp_path, text))
    assert "pressure_wire.systolic: must be >= diastolic" in line


def test_several_violations_give_one_line_each(tmp_path):
    text = GOOD.replace("value: 35,", "value: -35,").replace("sex: F", "sex: X").replace("unit: bpm", "unit: rpm")
    assert len(errors_of(write(tmp_path, text))) == 3


def test_not_yaml_not_a_mapping_and_absent(tmp_path):
    (line,) = errors_of(write(tmp_path, "id: [unclosed\n"))
    assert "not valid YAML (line" in line
    (line,) = errors_of(write(tmp_path, "- just\n- a list\n"))
    assert "must be a mapping" in line
    with pytest.raises(CaseError, match="file not found"):
        load_case(tmp_path / "nope" / "case.yaml")


def test_cli_reports_one_line_and_nonzero_status(tmp_path, capsys):
    p = write(tmp_path, GOOD.replace("value: 35,", "value: -35,"))
    assert main(["case", "check", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mean_velocity.value: must be > 0" in err[0] and "Traceback" not in err[0]
    good = write(tmp_path, GOOD)
    assert main(["case", "check", str(good)]) == 0
    assert "ok (id p001; population defaults used: none)" in capsys.readouterr().out


def test_shipped_cases_validate():
    from tests.conftest import REPO

    shipped = sorted((REPO / "cases").glob("*/case.yaml"))
    assert shipped, "the repository ships demo cases"
    for path in shipped:
        case = load_case(path)
        assert case.id == path.parent.name
