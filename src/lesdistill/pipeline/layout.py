"""The run-folder layout: every path a stage writes and a later stage reads, relative to the
run's output folder. The one home of these names (``lesdistill run`` and ``compare``'s
per-teacher runs use the same layout)::

    build/structure.extxyz          the start structure
    sample/frames.extxyz            labelled teacher frames; train/valid/test splits beside
    sample/teacher.json             what the teacher is
    train/best.pt                   the distilled student; train/learning_curve.csv
    refine/train/best.pt            the student refined on its own MD's frames (optional);
                                    refine/metrics.json, refine/labelled.extxyz
    finetune/best.pt                the fine-tuned student (optional); metrics.json, test.extxyz
    finetune/fractions/             the fraction sweep (optional): fractions.json, fractions.png
    evaluate/metrics.json           held-out errors, charges, speed; evaluate/parity.npz
    md/start.extxyz, md/traj/       student MD start and trajectory (md/traj/summary.json)
    md/mirror/                      student MD with the teacher's sampling protocol (RDFs)
    ir/ir.json, ir/bec.json         the IR spectrum and the BEC summary
    vdos/vdos.json, vdos/vdos.png   teacher vs student VDOS (optional)
"""

from __future__ import annotations

STRUCTURE = "build/structure.extxyz"
FRAMES = "sample/frames.extxyz"
TRAIN, VALID, TEST = "sample/train.extxyz", "sample/valid.extxyz", "sample/test.extxyz"
TEACHER_JSON = "sample/teacher.json"
STUDENT = "train/best.pt"
CURVE = "train/learning_curve.csv"
REFINE_STUDENT, REFINE_METRICS = "refine/train/best.pt", "refine/metrics.json"
FT_STUDENT, FT_METRICS, FT_TEST = (
    "finetune/best.pt",
    "finetune/metrics.json",
    "finetune/test.extxyz",
)
FT_FRACTIONS = "finetune/fractions"
EVAL_METRICS, PARITY = "evaluate/metrics.json", "evaluate/parity.npz"
MD_START, TRAJ, MD_MIRROR = "md/start.extxyz", "md/traj", "md/mirror"
TRAJ_SUMMARY = TRAJ + "/summary.json"
IR_JSON, BEC_JSON = "ir/ir.json", "ir/bec.json"
VDOS_JSON, VDOS_PNG = "vdos/vdos.json", "vdos/vdos.png"
