r"""Screened nuclear repulsion (ZBL) where the student has no data: a safety wall for student MD.

A student has no training data where two atoms nearly touch, so nothing stops an under-trained
network from predicting an attractive energy there and letting atoms fuse in MD. This prior adds
the universal Ziegler-Biersack-Littmark pair repulsion

.. math::

    E_{ij}(r) = \frac{e^2}{4\pi\varepsilon_0}\,\frac{Z_iZ_j}{r}\,
        \phi\!\left(\frac{r}{a_{ij}}\right) s(r),\qquad
    a_{ij} = \frac{0.8854\,a_0}{Z_i^{0.23}+Z_j^{0.23}},

    \phi(x) = 0.18175\,e^{-3.19980x} + 0.50986\,e^{-0.94229x} + 0.28022\,e^{-0.40290x}
        + 0.02817\,e^{-0.20162x},

switched off by the quintic smoothstep :math:`s` (value, first and second derivative
continuous) between :math:`r^\text{out}_{ij}/2` and :math:`r^\text{out}_{ij}`. The trainer sets
:math:`r^\text{out}` per element pair to 0.999 x the **shortest distance of that pair in the
training data** (as the data-derived inner cut-off of the core repulsion in ACE/pacemaker fits): the
term is then exactly zero at every training geometry, so the network is trained as without it,
and it only acts where the student has never seen data. Pairs without data default to
:math:`0.6\,(R^\text{cov}_i + R^\text{cov}_j)` with ASE's covalent radii (as the type-wise ZBL
cut-off of NEP). On the demo's training frames (CHGNet water at 420 K) the ranges came out
H-H 1.36, O-H 0.90 and O-O 2.45 Å; the wall then costs 0.57 eV for H-H at 1.0 Å, 2.3 eV at the
H2 bond length (0.74 Å), 17 eV for O-H at 0.6 Å and 103 eV at 0.3 Å.

Reference: J. F. Ziegler, J. P. Biersack, U. Littmark, *The Stopping and Range of Ions in
Solids* (Pergamon, 1985).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lesdistill.device import host_reads_are_free
from lesdistill.errors import UserInputError
from lesdistill.units import BOHR_RADIUS_A, COULOMB_EV_A

SCREENING_LENGTH_A = 0.8854 * BOHR_RADIUS_A  # 0.46853 Å
PHI_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
PHI_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
DEFAULT_RADIUS_FRACTION = 0.6
#: r_out = this x the closest contact in the data: 0.1% inside it, far beyond float32 rounding,
#: so no training pair ever enters the switch
DATA_RANGE_FACTOR = 0.999


def zbl_energy(r: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
    """Unswitched ZBL pair energy (eV) at distances ``r`` (Å) for atomic numbers ``z_i``,
    ``z_j``."""
    a = SCREENING_LENGTH_A / (z_i.pow(0.23) + z_j.pow(0.23))
    x = r / a
    phi = sum(c * torch.exp(-b * x) for c, b in zip(PHI_COEFFICIENTS, PHI_EXPONENTS))
    return COULOMB_EV_A * z_i * z_j / r * phi


def smoothstep_off(r: torch.Tensor, r_out: torch.Tensor) -> torch.Tensor:
    """1 below r_out/2, 0 above r_out, quintic (C2) in between."""
    t = ((r - 0.5 * r_out) / (0.5 * r_out)).clamp(0.0, 1.0)
    # 1 - 10 t^3 + 15 t^4 - 6 t^5 in factored form: no cancellation near t = 1 in float32
    return (1.0 - t) ** 3 * (1.0 + 3.0 * t + 6.0 * t * t)


def default_range(z_a: int, z_b: int) -> float:
    """r_out (Å) of an element pair without data: 0.6 x the sum of ASE's covalent radii."""
    from ase.data import covalent_radii

    return DEFAULT_RADIUS_FRACTION * float(covalent_radii[z_a] + covalent_radii[z_b])


def pair_key(z_a: int, z_b: int) -> str:
    """"H-O": the symbols of a pair ordered by atomic number (config key of a range)."""
    from ase.data import chemical_symbols

    low, high = sorted((int(z_a), int(z_b)))
    return f"{chemical_symbols[low]}-{chemical_symbols[high]}"


def parse_pair_key(key: str) -> tuple[int, int]:
    """"H-O" -> (1, 8); ValueError naming the key if it is not two element symbols."""
    from ase.data import atomic_numbers

    parts = key.split("-") if isinstance(key, str) else []
    if len(parts) != 2 or not all(p in atomic_numbers and p != "X" for p in parts):
        raise UserInputError(f"repulsion_range key {key!r} must be two element symbols like 'H-O'")
    low, high = sorted(atomic_numbers[p] for p in parts)
    return low, high


def pair_ranges(
    atomic_numbers: Sequence[int], ranges: dict[str, float] | None = None
) -> dict[tuple[int, int], float]:
    """r_out (Å) for every pair (Z_a <= Z_b) of ``atomic_numbers``: ``ranges`` ({"H-O": ...}) where
    given, :func:`default_range` otherwise."""
    given = {parse_pair_key(k): float(v) for k, v in (ranges or {}).items()}
    numbers = sorted({int(z) for z in atomic_numbers})
    return {
        (a, b): given.get((a, b), default_range(a, b)) for a in numbers for b in numbers if a <= b
    }


class ZBLRepulsion(nn.Module):
    """Per-atom share of the switched ZBL repulsion over a *full* neighbour list (eV).

    Args:
        atomic_numbers: Z of each element index of the model, in order.
        ranges: r_out (Å) per pair ``{"H-O": 0.82, ...}``; missing pairs use :func:`default_range`.
    """

    z: torch.Tensor  # buffer [n_elements]: atomic numbers
    r_out: torch.Tensor  # buffer [n_elements, n_elements]: outer switching radius, Å

    def __init__(
        self, atomic_numbers: Sequence[int], ranges: dict[str, float] | None = None
    ) -> None:
        super().__init__()
        numbers = [int(z) for z in atomic_numbers]
        table = pair_ranges(numbers, ranges)
        r_out = torch.tensor(
            [[table[(min(a, b), max(a, b))] for b in numbers] for a in numbers], dtype=torch.float64
        ).reshape(len(numbers), len(numbers))
        self.register_buffer("z", torch.tensor(numbers, dtype=torch.float64), persistent=False)
        self.register_buffer("r_out", r_out, persistent=False)

    @property
    def max_range(self) -> float:
        """Largest r_out over element pairs, Å."""
        return float(self.r_out.max()) if self.r_out.numel() else 0.0

    def forward(
        self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor
    ) -> torch.Tensor:
        """species [N] element indices, edge_index [2, E] (full list), vectors [E, 3] r_j - r_i (Å)
        -> per-atom energies [N] (half of every pair on each atom), eV."""
        out = vectors.new_zeros(species.shape[0])
        if edge_index.shape[1] == 0:
            return out
        i, j = edge_index[0], edge_index[1]
        s_i, s_j = species[i], species[j]
        r_out = self.r_out.to(vectors.dtype)[s_i, s_j]
        r2 = (vectors * vectors).sum(dim=1)
        close = r2 < r_out * r_out
        z = self.z.to(vectors.dtype)
        if host_reads_are_free(vectors):  # CPU: only the close pairs (usually none)
            if not bool(close.any()):
                return out
            r = r2[close].clamp_min(1e-12).sqrt()
            pair = zbl_energy(r, z[s_i[close]], z[s_j[close]]) * smoothstep_off(r, r_out[close])
            return out.index_add(0, i[close], 0.5 * pair)
        # on a device: every pair, masked (no data-dependent selection: no sync in an MD step)
        r = torch.where(close, r2, r_out * r_out).clamp_min(1e-12).sqrt()
        pair = zbl_energy(r, z[s_i], z[s_j]) * smoothstep_off(r, r_out)
        pair = torch.where(close, pair, torch.zeros_like(pair))
        return out.index_add(0, i, 0.5 * pair)
