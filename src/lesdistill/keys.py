"""Names of dataset, trajectory and result fields: one documented constant per key.

Labelled frames are extxyz files written by ASE. Teacher labels are stored the ASE way (a
SinglePointCalculator: ``energy``, ``forces``, ``stress`` are read back by ``ase.io.read`` as
``atoms.get_potential_energy()`` etc.), so any ASE tool reads our datasets. The keys below name
everything else. Shapes are per frame, N = number of atoms.
"""

# --- labels (ASE calculator results) ---------------------------------------------------------
ENERGY = "energy"  # float, eV
FREE_ENERGY = "free_energy"  # float, eV
FORCES = "forces"  # (N, 3), eV/Å
STRESS = "stress"  # (6,) Voigt xx yy zz yz xz xy, eV/Å^3 (ASE sign convention)
CHARGES = "charges"  # (N,), e
DIPOLE = "dipole"  # (3,), e Å (open boundary)
POLARIZATION = "polarization"  # (3,), e Å (periodic: dipole per cell, modulo the quantum)
BEC = "born_effective_charges"  # (N, 3, 3), e; Z[i, a, b] = dP_a / dr_ib
ENERGY_SHORT_RANGE = "energy_short_range"  # float, eV
ENERGY_LONG_RANGE = "energy_long_range"  # float, eV
DIPOLE_CURRENT = "dipole_current"  # (3,), e Å / fs

# --- extxyz extras ---------------------------------------------------------------------------
BEC_ARRAY = "bec"  # per-atom array (N, 9) in extxyz files, row-major Z[i].reshape(9)
TEACHER = "teacher"  # info: name of the teacher that labelled a frame
FRAME_ID = "frame_id"  # info: stable integer id of a sampled frame (resume, merge, de-dup)
TEMPERATURE_K = "temperature_K"  # info: target temperature of the MD that produced a frame
# info: instantaneous kinetic temperature of that MD at the frame, K
MD_TEMPERATURE_K = "md_temperature_K"
# info: the teacher MD passed the equilibration check before this frame
EQUILIBRATED = "equilibrated"
# info: how a teacher-labelled frame was made: "md" (teacher MD), "snapshot"
# (lesdistill.sampling.snapshots) or "student-md" (lesdistill.sampling.refine)
ORIGIN = "origin"
TOTAL_CHARGE = "total_charge"  # info: total charge of the structure, e (default 0)
SPIN_MULTIPLICITY = "spin_multiplicity"  # info: spin multiplicity 2S+1 of the structure (default 1)
PREVIOUS_PREFIX = "previous_"  # prefix for labels kept when a frame is relabelled

# --- student model outputs (model engineer) ---------------------------------------------------
ENERGIES = "energies"  # (N,), eV: per-atom short-range energies incl. reference E0 (ASE name)
LATENT_CHARGES = "latent_charges"  # (N,), e: LES latent charges (physical = latent*sqrt(eps_inf))
TIME_FS = "time_fs"  # info: simulation time of an MD frame, fs (extxyz trajectories for spectra)
