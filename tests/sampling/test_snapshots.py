"""Snapshot sampling: the teacher monomer's normal modes, thermal distortions (equipartition),
independent snapshot frames in sample() and their resume."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from lesdistill import keys
from lesdistill.sampling import read_frames, sample
from lesdistill.sampling.snapshots import monomer_modes, thermal_water
from lesdistill.teachers import Teacher, TeacherInfo

K_OH, R_OH, K_HH, R_HH = 40.0, 0.97, 8.0, 1.53  # eV/Å^2, Å: a harmonic (Urey-Bradley) water


class HarmonicWater(Calculator):
    """Molecules O, H, H with harmonic O-H and H-H springs, no intermolecular forces: a teacher
    whose potential energy above the minimum is exactly quadratic near it (minimum image)."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        from ase.geometry import find_mic

        pos = self.atoms.positions
        n = len(pos) // 3
        energy, forces = 0.0, np.zeros_like(pos)
        for i, j, k, r0 in ((0, 1, K_OH, R_OH), (0, 2, K_OH, R_OH), (1, 2, K_HH, R_HH)):
            a, b = np.arange(n) * 3 + i, np.arange(n) * 3 + j
            d, dist = find_mic(pos[b] - pos[a], self.atoms.cell, pbc=self.atoms.pbc)
            energy += 0.5 * k * float(((dist - r0) ** 2).sum())
            f = (k * (dist - r0) / dist)[:, None] * d
            np.add.at(forces, a, f)
            np.add.at(forces, b, -f)
        self.results = {"energy": energy, "forces": forces, "stress": np.zeros(6)}


def _teacher() -> Teacher:
    info = TeacherInfo(family="test", architecture="harmonic water", training_data="none",
                       level_of_theory="harmonic springs", elements=frozenset({"H", "O"}))
    return Teacher(name="harmonic-water", info=info, calculator=HarmonicWater())


def test_monomer_modes_match_ase_vibrations(tmp_path) -> None:
    from ase.vibrations import Vibrations

    mono = monomer_modes(HarmonicWater())
    assert mono.r_oh_A == pytest.approx(R_OH, abs=1e-4)
    mol = Atoms("OH2", positions=mono.positions_A + 6.0, cell=np.eye(3) * 12.0, pbc=True)
    mol.calc = HarmonicWater()
    vib = Vibrations(mol, name=str(tmp_path / "vib"), delta=0.005, nfree=2)
    vib.run()
    ase_cm = np.sort(np.real(vib.get_frequencies()))[-3:]  # cm^-1
    np.testing.assert_allclose(mono.wavenumbers_cm, ase_cm, rtol=2e-3)
    assert np.allclose(mono.modes @ mono.modes.T, np.eye(3), atol=1e-10)


def test_thermal_distortion_obeys_equipartition() -> None:
    """Harmonic modes drawn at T carry k_B T / 2 each: 3/2 k_B T of potential energy per molecule;
    molecules keep their centre of mass and orientation."""
    from lesdistill.systems import build

    mono = monomer_modes(HarmonicWater())
    box = build("water", seed=0, n_molecules=32)
    calc = HarmonicWater()
    rng = np.random.default_rng(4)
    t = 300.0
    energies = []
    for _ in range(40):
        hot = thermal_water(box, mono, t, rng)
        hot.calc = calc
        energies.append(hot.get_potential_energy() / 32)
    kt = 8.617333262e-5 * t
    # harmonic to ~1% at these amplitudes; the mean of 1280 molecules has ~2% noise
    assert np.mean(energies) == pytest.approx(1.5 * kt, rel=0.06)
    cold = thermal_water(box, mono, 1e-6, rng)  # ~0 K: the teacher's geometry exactly
    cold.calc = calc
    assert (
        cold.get_potential_energy() < 1e-5
    )  # relaxation residual (fmax 1e-3 eV/Å), vs k_B T = 0.026 eV


def test_snapshot_frames_are_independent_labelled_and_resume(tmp_path, monkeypatch) -> None:
    from lesdistill.sampling import md as md_module
    from lesdistill.systems import build

    box = build("water", seed=0, n_molecules=8)
    kw = dict(temperatures_K=(300.0, 330.0), n_frames=6, stride=2, timestep_fs=0.5,
              equilibration_steps=4, pre_equilibration="tip3p", pre_equilibration_ps=0.05,
              snapshot_fraction=2 / 3, snapshot_interval_ps=0.02, seed=3, progress=False)
    full = read_frames(sample(box, _teacher(), tmp_path / "full.xyz", **kw))
    assert [f.info[keys.ORIGIN] for f in full] == ["snapshot", "snapshot", "md"] * 2
    assert [f.info[keys.FRAME_ID] for f in full] == list(range(6))
    a, b = full[0].positions, full[1].positions
    assert np.abs(a - b).max() > 0.3  # different liquid configurations, not consecutive MD steps
    for f in full:
        f.calc.atoms = f
        assert np.isfinite(f.get_potential_energy()) and f.get_forces().shape == (24, 3)
    # killed after the 2nd frame (a snapshot) and again after the 3rd (the MD frame): same result
    calls = {"n": 0}
    real = md_module.append_frames

    def dying(path, frames):
        calls["n"] += 1
        real(path, frames)
        if calls["n"] in (2, 5):
            raise KeyboardInterrupt

    monkeypatch.setattr(md_module, "append_frames", dying)
    out = tmp_path / "resumed.xyz"
    for _ in range(3):
        try:
            sample(box, _teacher(), out, **kw)
            break
        except KeyboardInterrupt:
            pass
    resumed = read_frames(out)
    assert len(resumed) == 6
    for x, y in zip(full, resumed):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-8)
        np.testing.assert_allclose(x.get_forces(), y.get_forces(), atol=1e-8)


def test_snapshots_need_the_tip3p_start() -> None:
    from lesdistill.sampling.settings import SampleSettings
    from lesdistill.settings import SettingsError

    with pytest.raises(SettingsError, match="pre_equilibration: tip3p or auto"):
        SampleSettings(snapshot_fraction=0.5, pre_equilibration="none")
    with pytest.raises(SettingsError, match=r"\[0, 1\]"):
        SampleSettings(snapshot_fraction=1.5, pre_equilibration="tip3p")
