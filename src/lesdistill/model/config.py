"""Student configuration: one dataclass, size presets, YAML round trip.

The short-range cutoff lives in exactly one place, :attr:`StudentConfig.cutoff` (Å): the
neighbour list, the radial basis and the envelope all read it from here. Size presets:

======== ========== ======== ====== =====
preset   cutoff (Å) channels layers n_rbf
======== ========== ======== ====== =====
tiny     4.5        32       2      8
small    5.0        64       2      16
medium   5.5        128      3      20
======== ========== ======== ====== =====

``StudentConfig.from_preset("small", elements=["H", "O"], neutrality="none")`` builds one;
``config.to_yaml(path)`` / ``StudentConfig.from_yaml(path)`` round-trip it (unknown keys or bad
values give a one-line ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic
from lesdistill.les.slab import SLAB_CORRECTIONS

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"cutoff": 4.5, "channels": 32, "layers": 2, "n_rbf": 8},
    "small": {"cutoff": 5.0, "channels": 64, "layers": 2, "n_rbf": 16},
    "medium": {"cutoff": 5.5, "channels": 128, "layers": 3, "n_rbf": 20},
}
NEUTRALITY = ("none", "mean")
DTYPES = ("float32", "float64")
LES_METHODS = ("auto", "ewald", "pme")
REPULSIONS = ("zbl", "none")
CHARGE_MODELS = ("latent", "qeq")
QEQ_SOLVERS = ("auto", "dense", "cg")


def _chemical_symbols() -> list[str]:
    from ase.data import chemical_symbols

    return list(chemical_symbols)


@dataclasses.dataclass
class StudentConfig:
    """Everything needed to rebuild a :class:`~lesdistill.model.StudentModel` (plain types only).

    Attributes:
        elements: chemical symbols the model knows, sorted by atomic number.
        preset: name of the size preset this config came from ("custom" if none).
        cutoff: short-range cutoff radius, Å (the only cutoff setting).
        channels: feature width F of the backbone.
        layers: message-passing layers.
        n_rbf: number of Bessel radial basis functions.
        envelope_exponent: p of the polynomial cutoff envelope (smooth to 2nd derivative at rc).
        avg_num_neighbors: message normalisation (sum / sqrt(this)); None = estimate for a
            condensed phase (0.1 atoms/Å^3 in the cutoff sphere).
        backbone: "painn" (built in) or "package.module:Factory" -- a callable taking
            (config, **backbone_options) and returning a :class:`~lesdistill.model.Backbone`.
        backbone_options: extra keyword arguments for the backbone factory (plain types).
        long_range: add the LES long-range energy (False = short-range-only ablation).
        repulsion: "zbl" (default): switched ZBL nuclear repulsion, exactly zero beyond a range per
            element pair (:mod:`lesdistill.model.repulsion`); "none": the network alone.
        repulsion_range: ``{"H-O": r_out, ...}`` (Å): where the repulsion ends per element pair;
            the trainer fills it with the shortest distance of each pair in the training data.
            Missing pairs: 0.6 x the sum of the covalent radii.
        neutrality: "none" or "mean": q_i <- q_i - (sum_j q_j - Q / sqrt(eps_inf)) / N per
            structure, Q = total charge of the structure (e).
        eps_inf: high-frequency dielectric constant; physical charges = latent * sqrt(eps_inf).
        les_sigma: Gaussian smearing of the latent charges, Å.
        les_dl: k-space resolution of the LES sum, Å (smaller = more k-vectors).
        les_method: "auto" | "ewald" | "pme" (see lesdistill.les.energy).
        les_slab_correction: "none" (default: bulk, 3D-periodic) or "yeh-berkowitz": periodic
            structures are slabs, periodic along the first two cell vectors with vacuum along the
            normal; the LES energy gets the slab correction of :mod:`lesdistill.les.slab` (forces
            and stress by autograd) and the polarization, BECs and dipole current use the plain
            dipole along the normal (phase form in the plane). Latent charges only.
        charge_model: "latent" (default: the head gives q_i, neutrality above) or "qeq": the head
            gives an electronegativity chi_i (eV/e) and a hardness J_i (eV/e^2) and the charges
            minimise sum_i (chi_i q_i + J_i q_i^2 / 2) + E_LES(q) at fixed total charge
            (:mod:`lesdistill.model.qeq_head`; needs long_range).
        qeq_hardness_min: J_i = qeq_hardness_min + softplus(head), eV/e^2, > 0.
        qeq_solver: "auto" (dense up to 2000 atoms per structure, conjugate gradients above),
            "dense" or "cg" (:mod:`lesdistill.les.qeq`); force training always solves densely.
        les_channels: number n_q of latent charge channels of the plain head (default 1): each
            channel c has its own charges q_ic and its own LES energy, E_long = sum_c E_LES(q_c)
            (as the reference LES library's n_q); the charges that define P, the BECs and the
            dipole current are their sum q_i = sum_c q_ic (neutrality: each channel carries Q/n_q).
        charge_spin_embedding: embed each structure's total charge Q (e, ``info["total_charge"]``)
            and spin multiplicity 2S+1 (``info["spin_multiplicity"]``, default 1) into the
            features of its atoms, so one student tells H3O+, OH- and water, or a radical from
            its closed-shell parent, apart (:mod:`lesdistill.model.state`).
        dtype: "float32" (default) or "float64".
        seed: seed for the weight initialisation.
    """

    elements: tuple[str, ...] = ()
    preset: str = "custom"
    cutoff: float = 5.0
    channels: int = 64
    layers: int = 2
    n_rbf: int = 16
    envelope_exponent: int = 6
    avg_num_neighbors: float | None = None
    backbone: str = "painn"
    backbone_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    long_range: bool = True
    repulsion: str = "zbl"
    repulsion_range: dict[str, float] = dataclasses.field(default_factory=dict)
    neutrality: str = "mean"
    eps_inf: float = 1.0
    les_sigma: float = 1.0
    les_dl: float = 2.0
    les_method: str = "auto"
    les_slab_correction: str = "none"
    charge_model: str = "latent"
    qeq_hardness_min: float = 1.0
    qeq_solver: str = "auto"
    les_channels: int = 1
    charge_spin_embedding: bool = False
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        symbols = _chemical_symbols()
        elements = tuple(str(e) for e in self.elements)
        unknown = [e for e in elements if e not in symbols or e == "X"]
        if unknown:
            raise UserInputError(f"unknown chemical symbols in elements: {unknown}")
        if len(set(elements)) != len(elements):
            raise UserInputError(f"elements contain duplicates: {list(elements)}")
        self.elements = tuple(sorted(elements, key=symbols.index))
        for name in ("cutoff", "eps_inf", "les_sigma", "les_dl"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise UserInputError(f"{name} must be a positive number, got {value!r}")
            setattr(self, name, float(value))
        for name in ("channels", "layers", "n_rbf", "envelope_exponent", "les_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserInputError(f"{name} must be a positive integer, got {value!r}")
        if self.channels % 2:
            raise UserInputError(f"channels must be even, got {self.channels}")
        if self.avg_num_neighbors is not None and not float(self.avg_num_neighbors) > 0:
            raise UserInputError(
                f"avg_num_neighbors must be positive or null, got {self.avg_num_neighbors!r}"
            )
        if self.neutrality not in NEUTRALITY:
            raise UserInputError(f"neutrality must be one of {NEUTRALITY}, got {self.neutrality!r}")
        if self.dtype not in DTYPES:
            raise UserInputError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.repulsion not in REPULSIONS:
            raise UserInputError(f"repulsion must be one of {REPULSIONS}, got {self.repulsion!r}")
        self.repulsion_range = self._checked_ranges(self.repulsion_range)
        if self.les_method not in LES_METHODS:
            raise UserInputError(
                f"les_method must be one of {LES_METHODS}, got {self.les_method!r}"
            )
        if self.les_slab_correction not in SLAB_CORRECTIONS:
            raise UserInputError(f"les_slab_correction must be one of {SLAB_CORRECTIONS}, "
                                 f"got {self.les_slab_correction!r}")
        if not isinstance(self.backbone, str) or not self.backbone:
            raise UserInputError(
                f"backbone must be 'painn' or 'package.module:Factory', got {self.backbone!r}"
            )
        if not isinstance(self.backbone_options, dict):
            raise UserInputError(
                f"backbone_options must be a mapping, got {self.backbone_options!r}"
            )
        self.long_range = bool(self.long_range)
        self.charge_spin_embedding = bool(self.charge_spin_embedding)
        if self.charge_model not in CHARGE_MODELS:
            raise UserInputError(
                f"charge_model must be one of {CHARGE_MODELS}, got {self.charge_model!r}"
            )
        hardness = self.qeq_hardness_min
        if isinstance(hardness, bool) or not isinstance(hardness, (int, float)) or not hardness > 0:
            raise UserInputError(f"qeq_hardness_min must be > 0 eV/e^2 (the Qeq hardness must stay "
                                 f"positive for a unique minimum), got {hardness!r}")
        self.qeq_hardness_min = float(hardness)
        if self.qeq_solver not in QEQ_SOLVERS:
            raise UserInputError(
                f"qeq_solver must be one of {QEQ_SOLVERS}, got {self.qeq_solver!r}"
            )
        if self.charge_model == "qeq" and self.les_channels != 1:
            raise UserInputError(f"charge_model 'qeq' has one charge channel; set les_channels: 1, "
                                 f"got {self.les_channels}")
        if self.slab and (self.charge_model != "latent" or not self.long_range):
            raise UserInputError(
                "les_slab_correction needs the latent-charge long-range part "
                "(charge_model: latent, long_range: true); set les_slab_correction: none"
            )
        if self.charge_model == "qeq" and not self.long_range:
            raise UserInputError(
                "charge_model 'qeq' needs the long-range part; set long_range: true "
                "or charge_model: latent"
            )

    def _checked_ranges(self, ranges: Any) -> dict[str, float]:
        from lesdistill.model.repulsion import pair_key, parse_pair_key

        if not isinstance(ranges, dict):
            raise UserInputError(
                f"repulsion_range must be a mapping like {{'H-O': 0.8}}, got {ranges!r}"
            )
        out = {}
        for key, value in ranges.items():
            pair = parse_pair_key(key)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < self.cutoff
            ):
                raise UserInputError(
                    f"repulsion_range[{key!r}] must be in (0, "
                    f"cutoff = {self.cutoff}) Å, got {value!r}"
                )
            out[pair_key(*pair)] = float(value)
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ derived
    @property
    def torch_dtype(self) -> Any:
        import torch

        return torch.float64 if self.dtype == "float64" else torch.float32

    @property
    def slab(self) -> bool:
        """True when periodic structures are slabs (``les_slab_correction`` is not "none")."""
        return self.les_slab_correction != "none"

    @property
    def atomic_numbers(self) -> list[int]:
        symbols = _chemical_symbols()
        return [symbols.index(e) for e in self.elements]

    @property
    def neighbor_normalization(self) -> float:
        """Average neighbour count used to normalise message sums."""
        if self.avg_num_neighbors is not None:
            return float(self.avg_num_neighbors)
        return 0.1 * 4.0 / 3.0 * 3.141592653589793 * self.cutoff**3

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> StudentConfig:
        """Config of size preset ``name`` ("tiny" | "small" | "medium") with overrides."""
        if name not in PRESETS:
            raise UserInputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        values: dict[str, Any] = {"preset": name, **PRESETS[name]}
        values.update(overrides)
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudentConfig:
        """Build from a plain mapping; a ``preset`` key fills defaults, other keys override."""
        if not isinstance(data, dict):
            raise UserInputError(f"a student config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserInputError(
                f"unknown student config keys {unknown}; known keys: {sorted(known)}"
            )
        values = dict(data)
        preset = values.get("preset", "custom")
        if preset != "custom":
            if preset not in PRESETS:
                raise UserInputError(
                    f"unknown preset {preset!r}; choose one of {sorted(PRESETS)} or 'custom'"
                )
            values = {**PRESETS[preset], **values}
        values["elements"] = tuple(values.get("elements", ()))
        values["backbone_options"] = dict(values.get("backbone_options") or {})
        values["repulsion_range"] = dict(values.get("repulsion_range") or {})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain python types only (safe for YAML and ``torch.load(weights_only=True)``)."""
        out = dataclasses.asdict(self)
        out["elements"] = list(self.elements)
        return out

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """YAML text of this config; also written atomically to ``path`` if given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            write_text_atomic(path, text)
        return text

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> StudentConfig:
        """Read a config from a YAML file path (or YAML text containing a newline)."""
        import yaml

        if isinstance(source, str) and "\n" in source:
            text = source
        else:
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"student config file not found: {path}")
            text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise UserInputError(
                f"student config is not valid YAML: {str(err).splitlines()[0]}"
            ) from None
        return cls.from_dict(data or {})
