"""Equilibration before recording: the settle check, the TIP3P start, and the sampler's refusal
to record a hot, unsettled start."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from lesdistill.sampling.equilibration import is_water, settled, tip3p_start
from lesdistill.units import KB_EV_PER_K


def test_settled_accepts_equilibrium_noise_and_rejects_heat_and_drift() -> None:
    rng = np.random.default_rng(0)
    n_atoms, target = 96, 300.0
    kt = KB_EV_PER_K * target
    # equilibrium: T fluctuates by sqrt(2 / 3N), E by ~0.12 kT per atom (uncorrelated here)
    temps = target * (1 + rng.normal(0, (2 / (3 * n_atoms)) ** 0.5, 40))
    energies = -100.0 + rng.normal(0, 0.12 * kt * n_atoms ** 0.5, 40)
    assert settled(temps, energies, target, n_atoms).ok
    hot = settled(temps * 1.5, energies, target, n_atoms)
    assert not hot.ok and "mean temperature" in hot.reason and hot.mean_temperature_K > 400
    # a relaxing start: the potential energy falls by 20 meV/atom over the window
    falling = energies - np.linspace(0, 0.020 * n_atoms, 40)
    drift = settled(temps, falling, target, n_atoms)
    assert not drift.ok and "drifting" in drift.reason and drift.energy_drift_eV_atom < -0.005
    with pytest.raises(ValueError):
        settled(temps[:3], energies[:3], target, n_atoms)


def test_tip3p_start_keeps_molecules_and_is_deterministic() -> None:
    from lesdistill.systems import build

    box = build("water", seed=0, n_molecules=8)
    a = tip3p_start(box, ps=0.1, seed=1)
    b = tip3p_start(box, ps=0.1, seed=1)
    c = tip3p_start(box, ps=0.1, seed=2)
    assert np.array_equal(a.positions, b.positions) and not np.allclose(a.positions, c.positions)
    assert a.get_chemical_symbols() == box.get_chemical_symbols() and not a.constraints
    for m in range(8):  # rigid TIP3P geometry: O-H 0.9572 Å
        for h in (1, 2):
            assert a.get_distance(3 * m, 3 * m + h, mic=True) == pytest.approx(0.9572, abs=1e-4)
    assert is_water(box) and not is_water(bulk("NaCl", "rocksalt", a=5.64, cubic=True))
    with pytest.raises(Exception, match="ordered"):
        tip3p_start(Atoms("HHO", positions=np.eye(3), cell=np.eye(3) * 5, pbc=True))


def _hot_nacl() -> Atoms:
    """2x2x2 rock-salt NaCl (64 ions) with every ion displaced by ~0.3 Å: far above the
    lattice energy, so MD started from it heats up for tens of fs."""
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    atoms.positions += np.random.default_rng(3).normal(0, 0.3, atoms.positions.shape)
    return atoms


def test_hot_start_is_detected_and_not_recorded(tmp_path) -> None:
    from lesdistill.sampling import SamplingAborted, sample

    out = tmp_path / "hot.xyz"
    # weak friction: the released energy stays in the system for the 30 checked steps
    with pytest.raises(SamplingAborted, match="did not settle") as err:
        sample(
            _hot_nacl(),
            "analytic-ionic",
            out,
            temperatures_K=(300.0,),
            n_frames=4,
            stride=2,
            timestep_fs=2.0,
            equilibration_steps=10,
            settle_window=20,
            max_equilibration_steps=30,
            friction_per_fs=0.001,
            progress=False,
        )
    assert "mean temperature" in str(err.value) or "drifting" in str(err.value)
    assert not out.exists() or out.stat().st_size == 0  # nothing recorded


def test_frames_are_recorded_only_after_the_check_passes(tmp_path) -> None:
    from ase.io import read

    from lesdistill import keys
    from lesdistill.sampling import sample

    out = sample(
        _hot_nacl(),
        "analytic-ionic",
        tmp_path / "ok.xyz",
        temperatures_K=(300.0,),
        n_frames=3,
        stride=2,
        timestep_fs=2.0,
        equilibration_steps=10,
        settle_window=20,
        max_equilibration_steps=2000,
        friction_per_fs=0.05,
        progress=False,
    )
    frames = read(out, index=":")
    assert len(frames) == 3 and all(f.info[keys.EQUILIBRATED] for f in frames)
    used = frames[0].info["equilibration_steps"]
    assert 20 < used < 2000  # longer than the minimum: the hot start needed more steps
    assert frames[0].info["md_step"] == used + 2
    temps = [f.info[keys.MD_TEMPERATURE_K] for f in frames]
    assert all(150 < t < 450 for t in temps)


def test_default_settings_check_equilibration_and_start_water_from_tip3p() -> None:
    """The measured best protocol is the default: settle check on, TIP3P starts for water only."""
    from lesdistill.sampling.md import segment_start
    from lesdistill.sampling.settings import SampleSettings
    from lesdistill.systems import build

    default = SampleSettings()
    assert default.settle_window == 20 and default.pre_equilibration == "auto"
    assert default.pre_equilibration_for(True) == "tip3p"
    assert default.pre_equilibration_for(False) == "none"
    assert SampleSettings(pre_equilibration="none").pre_equilibration_for(True) == "none"
    quick = SampleSettings(pre_equilibration_ps=0.1)
    box = build("water", seed=0, n_molecules=8)
    water = segment_start(box, quick, 0, 0, 300.0, 0.0)
    assert water.get_distance(0, 1, mic=True) == pytest.approx(0.9572, abs=1e-4)  # TIP3P O-H
    assert not np.allclose(water.positions, box.positions)
    nacl = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    np.testing.assert_array_equal(segment_start(nacl, quick, 0, 0, 300.0, 0.0).positions,
                                  nacl.positions)


@pytest.mark.parametrize("option", [{"pre_equilibration": "tip3p"}, {"snapshot_fraction": 0.5}])
def test_water_only_options_are_refused_for_other_systems_before_md(tmp_path, option) -> None:
    from lesdistill.errors import UserInputError
    from lesdistill.sampling import sample

    out = tmp_path / "nacl.xyz"
    with pytest.raises(UserInputError, match="water molecules ordered O, H, H"):
        sample(bulk("NaCl", "rocksalt", a=5.64, cubic=True), "analytic-ionic", out,
               n_frames=2, progress=False, **option)
    assert not out.exists()
