"""Sampling keeps the charge state of the input structure: the teacher MD runs and the frames
are labelled with its total charge and spin multiplicity."""

from __future__ import annotations

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lesdistill import keys
from lesdistill.sampling import md as sampling_md
from lesdistill.sampling.settings import SampleSettings
from lesdistill.teachers import get_teacher


def test_start_segment_and_frames_keep_charge_and_spin():
    teacher = get_teacher("analytic-ionic")
    ion = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]])
    ion.info.update({keys.TOTAL_CHARGE: -1, keys.SPIN_MULTIPLICITY: 2})
    settings = SampleSettings(relax=False, pre_equilibration="none")
    start = sampling_md._start_structure(ion, teacher, settings, None)
    work = sampling_md.segment_start(start, settings, 0, 0, 300.0, 0.0)
    work.calc = SinglePointCalculator(work, energy=-1.0, forces=[[0.0] * 3] * 2)
    frame = sampling_md._labelled_frame(work, teacher, 0, 300.0, 0.0, 0, (0, True))
    for atoms in (start, work, frame):
        assert atoms.info[keys.TOTAL_CHARGE] == -1 and atoms.info[keys.SPIN_MULTIPLICITY] == 2
