"""One energy model per aircraft: its figures, the planner's estimate and the endurance check."""

from dataclasses import replace

import numpy as np
import pytest

from missions.data import sample_path
from missions.estimate import estimate_mission, estimate_path
from missions.sectors import read_areas, read_sector
from missions.survey import plan_survey
from missions.validate import validate_plan
from uav.energy import EnergyModel
from uav.errors import PlanValidationError, ProfileError
from uav.profiles import AIRCRAFT, AircraftProfile, get_aircraft, get_camera

HOME = (43.1341, 131.2674)


def test_presets_reproduce_the_makers_flight_and_hover_times():
    m3e = AIRCRAFT["mavic3e"].energy
    assert m3e.capacity_wh == pytest.approx(77.0)                    # 5000 mAh at 15.4 V
    assert m3e.endurance_s(0.0) == pytest.approx(38 * 60)            # max hover time
    assert m3e.endurance_s(10.0) == pytest.approx(45 * 60)           # max flight time
    assert m3e.level_power_w(15.0) == pytest.approx(1.25 * m3e.level_power_w(10.0))
    m30 = AIRCRAFT["m30t"].energy
    assert m30.capacity_wh == pytest.approx(2 * 131.6, rel=0.01)
    assert m30.endurance_s(0.0) == pytest.approx(36 * 60)
    p4 = AIRCRAFT["phantom4pro"].energy
    assert p4.endurance_s(0.0) == pytest.approx(p4.endurance_s(10.0)) == pytest.approx(30 * 60)


def test_arducopter_quad_is_sitls_measured_quad():
    q = AIRCRAFT["arducopter-quad"].energy
    # SYS_STATUS current on ArduPilot SITL 4.7 (+ frame, 12.6 V): 28.1 A hover, 30.6 A at 10 m/s,
    # +2.47 A climbing at 2.5 m/s, -2.29 A descending at 2.5 m/s
    assert q.current_a(0.0) == pytest.approx(28.11, rel=0.01)
    assert q.current_a(10.0) == pytest.approx(30.6, rel=0.01)
    assert q.current_a(0.0, 2.5) - q.current_a(0.0) == pytest.approx(2.47, rel=0.05)
    assert q.current_a(0.0) - q.current_a(0.0, -2.5) == pytest.approx(2.29, rel=0.05)
    assert q.capacity_mah == 10000 and q.usable_mah == 7500


def test_power_is_vectorised_and_extrapolates_past_the_table():
    q = AIRCRAFT["arducopter-quad"].energy
    p = q.power_w(np.array([0.0, 5.0, 10.0, 12.0]), np.array([0.0, 0.0, 0.0, 0.0]))
    assert p.shape == (4,) and np.all(np.diff(p) > 0)
    assert p[3] > p[2]  # faster than the last measured point costs more, not the same
    assert q.power_w(0.0, -50.0) == pytest.approx(q.hover_w / 3)  # floor: rotors still spin


def test_estimate_charges_each_phase_at_its_own_power():
    ac = AIRCRAFT["arducopter-quad"]
    e = ac.energy
    # 1 km out and back at 10 m/s, 50 m up: climb, two straight legs, a reversal, descent
    xy = np.array([[0.0, 0.0], [0.0, 1000.0], [0.0, 0.0]])
    est = estimate_path(xy, np.array([50.0, 50.0, 50.0]), speed_ms=10.0, aircraft=ac)
    turns = 2 * 10 / ac.acceleration_ms2  # reversal (pi) + half a stop at each end
    by_hand = (2000 / 10 * e.power_w(10.0) + turns * e.power_w(10.0)
               + 50 / 2.5 * e.power_w(0, 2.5) + 40 / 1.5 * e.power_w(0, -1.5) + 10 / 0.5 * e.power_w(0, -0.5)) / 3600
    assert est.energy_wh == pytest.approx(by_hand)
    assert est.charge_mah == pytest.approx(by_hand * 1000 / 12.6)
    hover = estimate_path(xy[:1].repeat(2, 0), np.array([50.0, 50.0]), speed_ms=10.0, aircraft=ac,
                          hover_s=600)
    assert hover.energy_wh - est.energy_wh + 2000 / 10 * e.power_w(10.0) / 3600 + turns * e.power_w(10.0) / 3600 \
        == pytest.approx(600 * e.hover_w / 3600)


@pytest.fixture(scope="module")
def mavic_survey():
    sector = read_sector(sample_path("demo_sector.geojson"))
    return plan_survey(sector, camera=get_camera("mavic3e-wide"), aircraft=get_aircraft("mavic3e"),
                       exclusions=read_areas(sample_path("demo_exclusion.geojson")),
                       altitude_m=60, front_overlap=0.75, side_overlap=0.65, home=HOME,
                       home_alt_amsl=142.0, name="energy test")


def test_every_sortie_fits_the_usable_charge(mavic_survey):
    ac = mavic_survey.aircraft
    for m in mavic_survey.sorties:
        assert estimate_mission(m, ac).charge_mah <= ac.energy.usable_mah * 1.0001
    assert validate_plan(mavic_survey) == []


def test_validation_names_the_charge_over_the_usable_part(mavic_survey):
    est = estimate_mission(mavic_survey.sorties[0], mavic_survey.aircraft)
    # an aircraft whose power makes sortie 1 need 5 % more than the usable charge
    ac = mavic_survey.aircraft
    small = replace(ac, endurance_s=ac.endurance_s * est.charge_mah / ac.energy.usable_mah / 1.05)
    with pytest.raises(PlanValidationError, match=r"needs [\d,]+ mAh, over the usable endurance of "
                                                  r"'mavic3e': [\d,]+ of [\d,]+ mAh \(25% reserve kept"):
        validate_plan(replace(mavic_survey, aircraft=small))


def test_user_profile_power_curve_and_refusals(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('[aircraft.team3]\nendurance_s = 1500\nbattery_capacity_mah = 4000\n'
                    'battery_voltage_v = 15.2\npower_curve = [[0, 1.0], [10, 0.9], [15, 1.1]]\n')
    ac = get_aircraft("team3", toml)
    assert ac.power_curve == ((0.0, 1.0), (10.0, 0.9), (15.0, 1.1))
    assert ac.energy.endurance_s(10.0) == pytest.approx(1500)
    assert ac.energy.endurance_s(0.0) == pytest.approx(1500 * 0.9)
    with pytest.raises(ProfileError, match="power_curve must start at"):
        AircraftProfile("bad", power_curve=((5, 1.0),))
    with pytest.raises(ProfileError, match="increasing speeds"):
        AircraftProfile("bad", power_curve=((0, 1.0), (10, 0.9), (10, 1.0)))
    with pytest.raises(ProfileError, match="battery_voltage_v must be positive"):
        AircraftProfile("bad", battery_voltage_v=0)
    with pytest.raises(ProfileError, match="capacity and voltage"):
        EnergyModel(capacity_mah=0, voltage_v=12, speeds_ms=(0.0,), level_w=(100.0,))
