"""Finite-difference reference BEC and user-provided BEC labels."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from lesdistill.compare.reference import finite_difference_bec, frames_bec


class FixedCharges(Calculator):
    """Dipole of fixed point charges, mu = sum_i q_i r_i (e Å): its BEC is exactly q_i * I.
    With ``wrap``, positions are wrapped into the cell first (as tblite does in a periodic cell)."""

    implemented_properties = ["energy", "dipole"]

    def __init__(self, charges, wrap=False):
        super().__init__()
        self.q = np.asarray(charges, dtype=float)
        self.wrap = wrap

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.get_positions(wrap=self.wrap)
        self.results = {"energy": 0.0, "dipole": self.q @ pos}


def _water(cell=False):
    atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    if cell:
        atoms.set_cell([6.0, 6.0, 6.0])
        atoms.pbc = True
        atoms.translate([5.99, 3, 3])  # O sits at the cell edge: no wrapping may happen
    return atoms


def test_fixed_charges_give_exact_bec():
    q = [-0.8, 0.4, 0.4]
    for atoms in (_water(), _water(cell=True)):
        before = atoms.get_positions().copy()
        z = finite_difference_bec(atoms, FixedCharges(q), displacement_A=0.02)
        np.testing.assert_allclose(z, np.array(q)[:, None, None] * np.eye(3), atol=1e-10)
        np.testing.assert_array_equal(atoms.get_positions(), before)


def test_atom_on_a_cell_face_with_a_wrapping_dipole():
    # an H 1e-4 Å inside a face: displacing it by -h would wrap it to the other side of the cell
    atoms = _water(cell=True)
    atoms.positions[1, 1] = 1e-4
    atoms.positions[2, 0] = 6.0 - 1e-4
    q = [-0.8, 0.4, 0.4]
    z = finite_difference_bec(atoms, FixedCharges(q, wrap=True), displacement_A=0.01)
    np.testing.assert_allclose(z, np.array(q)[:, None, None] * np.eye(3), atol=1e-8)


class ChargeFlow(Calculator):
    """Charges that flow between neighbours (minimum-image distances) and the dipole sum_i q_i r_i
    of the wrapped positions, as tblite gives in a periodic cell: no polarization."""

    implemented_properties = ["energy", "dipole"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        d = a.get_all_distances(mic=True, vector=True)  # [i, j] = r_j - r_i
        weight = np.exp(-(d ** 2).sum(-1) / 2.0)
        base = np.where(np.arange(len(a)) % 2, 0.4, -0.4)
        q = base + 0.3 * (np.tanh(d[..., 0]) * weight).sum(axis=1)
        self.results = {"energy": 0.0, "dipole": q @ a.get_positions(wrap=True)}


def _chain() -> Atoms:
    x = np.arange(6) + 0.5 + np.array([0.0, 0.05, -0.03, 0.02, 0.0, -0.04])
    atoms = Atoms("OHOHOH", positions=np.stack([x, 0.1 * np.arange(6), np.zeros(6)], axis=1),
                  cell=[6.0, 6.0, 6.0], pbc=True)
    return atoms


def test_a_periodic_dipole_that_depends_on_the_faces_is_refused():
    with pytest.raises(ValueError, match="not a polarization: its finite-difference BECs change"):
        finite_difference_bec(_chain(), ChargeFlow())
    # the same charges in an open chain (no faces) give a BEC with charge flow, not q 1
    open_chain = _chain()
    open_chain.pbc = False
    z = finite_difference_bec(open_chain, ChargeFlow())
    assert np.abs(z - np.trace(z, axis1=1, axis2=2)[:, None, None] / 3 * np.eye(3)).max() > 0.05
    # fixed charges in the same periodic cell pass the check
    q = np.where(np.arange(6) % 2, 0.4, -0.4)
    z = finite_difference_bec(_chain(), FixedCharges(q, wrap=True))
    np.testing.assert_allclose(z, q[:, None, None] * np.eye(3), atol=1e-8)


def test_no_dipole_or_bad_step_is_rejected():
    from ase.calculators.emt import EMT

    with pytest.raises(ValueError, match="gives no dipole"):
        finite_difference_bec(_water(), EMT())
    with pytest.raises(ValueError, match="displacement_A"):
        finite_difference_bec(_water(), FixedCharges([0, 0, 0]), displacement_A=0.0)


def test_gfn1_water_molecule_bec_obeys_sum_rule_and_signs():
    tblite = pytest.importorskip("tblite.ase")
    calc = tblite.TBLite(method="GFN1-xTB", verbosity=0)
    z = finite_difference_bec(_water(), calc, displacement_A=0.005)
    # neutral molecule: translating it leaves the dipole unchanged -> sum_i Z_i = 0
    np.testing.assert_allclose(z.sum(axis=0), 0.0, atol=2e-3)
    tr = np.trace(z, axis1=1, axis2=2) / 3
    assert tr[0] < -0.2 and tr[1] > 0.1 and tr[2] > 0.1


def test_frames_bec_reads_labels_and_rejects_bad_ones():
    a = _water()
    assert frames_bec([a]) is None
    z = np.arange(27, dtype=float).reshape(3, 9)
    a.arrays["bec"] = z
    got = frames_bec([a])
    np.testing.assert_array_equal(got[0], z.reshape(3, 3, 3))
    a.arrays["bec"] = np.full((3, 9), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        frames_bec([a])


def test_fixed_charge_bec_of_analytic_teacher():
    from lesdistill.compare.reference import fixed_charge_bec
    from lesdistill.systems import build
    from lesdistill.teachers import get_teacher

    teacher = get_teacher("analytic-ionic-half")
    atoms = build("ionic", seed=0)
    z = fixed_charge_bec(atoms, teacher.calculator)
    q = np.where(np.array(atoms.get_chemical_symbols()) == "Na", 0.5, -0.5)
    np.testing.assert_allclose(z, q[:, None, None] * np.eye(3))
