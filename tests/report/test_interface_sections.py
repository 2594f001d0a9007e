"""The interface report section: water density profile, layer cuts and the layer table."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.report.interface_sections import layer_rows, section_water_profile


def _groups() -> dict:
    r = np.arange(0.025, 10.0, 0.05)
    rho = (2.5 * np.exp(-((r - 2.2) / 0.2) ** 2) + 1.4 * np.exp(-((r - 3.6) / 0.3) ** 2)
           + 1.0 / (1.0 + np.exp(-(r - 4.2) / 0.2))) * (r < 7.0)
    z = np.arange(0.1, 30.0, 0.2)
    return {
        "selector": "tio2-water",
        "cuts_A": [2.9, 4.3],
        "atoms_per_group": {
            "layer1": {"mean": 24.0},
            "layer2": {"mean": 30.0},
            "bulk": {"mean": 90.0},
        },
        "profile": {
            "r_A": r.tolist(),
            "g_cm3": rho.tolist(),
            "z_A": z.tolist(),
            "z_g_cm3": np.where((z > 8) & (z < 22), 0.0, 1.0).tolist(),
            "slab_z_A": [8.0, 22.0],
        },
    }


def test_layer_rows_find_each_layers_density_maximum():
    g = _groups()
    rows = layer_rows(g["profile"]["r_A"], g["profile"]["g_cm3"], g["cuts_A"], g["atoms_per_group"])
    assert [row[0] for row in rows] == ["layer1", "layer2", "bulk"]
    assert rows[0][1] == "0.00-2.90" and rows[0][2] == pytest.approx(2.2, abs=0.05)
    assert rows[1][2] == pytest.approx(3.6, abs=0.1)
    assert rows[2][1].endswith("6.98")  # the bulk range ends at the last filled bin
    assert [row[5] for row in rows] == [8.0, 10.0, 30.0]  # molecules = atoms / 3


def test_section_only_for_the_tio2_selector():
    section = section_water_profile({"ir": {"groups": _groups()}})
    assert section is not None and [f.name for f in section.figures] == ["water_profile"]
    assert "2.90 Å, 4.30 Å" in section.paragraphs[0]
    assert section_water_profile({"ir": {"groups": {**_groups(), "selector": "hcl"}}}) is None
    assert section_water_profile({"ir": {}}) is None
