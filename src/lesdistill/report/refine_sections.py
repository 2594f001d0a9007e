"""Report section for student-driven sampling (the ``refine`` stage): how far the distilled
student was from its teacher on the configurations of its own MD, and after fine-tuning on
the teacher's labels of them.

``data["refine"]``: ``refine/metrics.json`` (:func:`lesdistill.sampling.refine.refine`):
``before`` / ``after`` = {``new``: errors on the held-out frames of the student's MD,
``test``: on the teacher's test frames} in the evaluation schema of
:mod:`lesdistill.training.evaluate`; ``n_frames``, ``plan``, ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lesdistill.report.html import Section, Table

__all__ = ["section_refine"]

_METRICS = (("forces_mae_meV_per_A", "force MAE (meV/Å)"),
            ("forces_rmse_meV_per_A", "force RMSE (meV/Å)"),
            ("energy_mae_meV_per_atom", "energy MAE (meV/atom)"))


def section_refine(data: Mapping[str, Any]) -> Section | None:
    """The refine section, or None when the stage did not run."""
    r = data.get("refine")
    if not r:
        return None
    before, after = r.get("before", {}), r.get("after", {})
    rows = []
    for where, label in (("new", "student's own MD (held out)"), ("test", "teacher's test frames")):
        for key, name in _METRICS:
            b, a = (before.get(where) or {}).get(key), (after.get(where) or {}).get(key)
            if b is not None:
                rows.append([label, name, b, a])
    plan = ", ".join(f"{p['n_frames']} at {p['temperature_K']:g} K" for p in r.get("plan", []))
    paragraphs = [
        f"The distilled student ran its own Langevin MD ({r.get('equilibration_ps', 0):g} ps "
        f"before recording, frames {r.get('interval_fs', 0):g} fs apart; mean kinetic "
        f"temperature {r.get('student_md_mean_temperature_K', float('nan')):.0f} K); the teacher "
        f"labelled {r.get('n_frames')} of its frames ({plan}) and the student was fine-tuned on "
        f"the teacher frames plus {r.get('n_train')} of them. The 'before' column is how "
        "faithful the distilled student was where it actually runs; every later stage uses the "
        "refined student."]
    paragraphs += [f"Warning: {n}" for n in r.get("notes", [])]
    table = Table(["frames", "metric", "before", "after"], rows,
                  f"{r.get('n_valid')} held-out student-MD frames; the teacher's test frames")
    return Section("Student-driven sampling (refine)", paragraphs, [table])
