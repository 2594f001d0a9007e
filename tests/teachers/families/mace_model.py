"""Build a small random-initialised MACE model with mace-torch's own API and ``torch.save`` it.

Run with the MACE environment's Python (mace-torch pins e3nn 0.4.4)::

    python mace_model.py OUT.model
"""

from __future__ import annotations

import sys

import numpy as np
import torch

# isort: off
from mace import modules  # first: it sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, which e3nn 0.4.4 needs
from mace.tools import utils
from e3nn import o3  # after mace on purpose (see above)
# isort: on


def build(path: str, seed: int = 0) -> None:
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64)
    table = utils.AtomicNumberTable([1, 8])
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=4.0, num_bessel=4, num_polynomial_cutoff=5, max_ell=2,
        interaction_cls=block, interaction_cls_first=block, num_interactions=2,
        num_elements=len(table), hidden_irreps=o3.Irreps("8x0e+8x1o"),
        MLP_irreps=o3.Irreps("8x0e"), gate=torch.nn.functional.silu,
        atomic_energies=np.array([-13.6, -2041.0]), avg_num_neighbors=10.0,
        atomic_numbers=table.zs, correlation=2, radial_type="bessel",
        atomic_inter_scale=1.0, atomic_inter_shift=0.0)
    torch.save(model, path)


if __name__ == "__main__":
    build(sys.argv[1])
