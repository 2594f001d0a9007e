"""Production MD engines for students: torch-sim (batched replicas).

Each engine's package is optional and imported lazily: :mod:`lesdistill.engines.torchsim`
(``lesdistill[torchsim]``), :mod:`lesdistill.engines.replicas` (replica spectra MD on it).
"""
