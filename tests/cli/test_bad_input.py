"""The bad-input corpus: every case is one command line a user (or an attacker) might type.

Each case asserts exit code 2, exactly one line on stderr that names the input and says how to
fix it, no traceback, and no file or folder left behind (in the working folder and beside the
inputs). Cases with a malicious file also assert that the code it names never ran (a marker
file that the test-only module ``tests.cli.evil_backbone`` writes when imported or called).
The CLI runs in-process (``lesdistill.cli.main``); a few cases run it in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EVIL = "tests.cli.evil_backbone"


# --------------------------------------------------------------------------- inputs

def _water(n_molecules: int = 2):
    from lesdistill.systems import build

    return build("water", seed=0, n_molecules=n_molecules)


def _labelled(atoms, seed: int):
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
    atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()) - 14.0 * len(atoms),
                                       forces=rng.normal(scale=0.5, size=(len(atoms), 3)))
    return atoms


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    import torch
    from ase.io import write

    from lesdistill.model import StudentConfig, StudentModel, save_student
    from lesdistill.model.checkpoint import FORMAT, student_state

    from .payloads import Payload

    d = tmp_path_factory.mktemp("inputs")
    p = {k: str(d / v) for k, v in dict(
        S="student.pt", W="water.xyz", F="frames.xyz", U="unlabelled.xyz", G="garbage.xyz",
        TR="truncated.pt", EMPTY="empty.pt", FP="foreign.pt", EB="evil_backbone.pt",
        PD="pydoc.pt", OS="os_sep.pt", PK="pickle.pt", OV="overlap.xyz", NAN="nan.xyz",
        SC="singular.xyz", FE="sodium.xyz", BLK="blocker", YBAD="bad.yaml", MARK="evil_marker",
        PMARK="pickle_marker", SHMARK="shell_marker").items()}
    model = StudentModel(StudentConfig.from_preset("tiny", elements=["H", "O"]))
    save_student(model, p["S"])
    water = _water()
    write(p["W"], water, format="extxyz")
    write(p["F"], [_labelled(water, k) for k in range(4)], format="extxyz")
    write(p["U"], [water, water], format="extxyz")
    Path(p["G"]).write_text("this is not a structure\n")
    data = Path(p["S"]).read_bytes()
    Path(p["TR"]).write_bytes(data[: len(data) // 3])
    Path(p["EMPTY"]).write_bytes(b"")
    torch.save({"weights": torch.zeros(3)}, p["FP"])
    for key, backbone, options in (("EB", f"{EVIL}:Factory", {}),
                                   ("PD", "pydoc:pipepager", {"cmd": f"touch {p['SHMARK']}"}),
                                   ("OS", "os:sep", {})):
        state = student_state(model)
        state["config"] = {**state["config"], "backbone": backbone, "backbone_options": options}
        torch.save(state, p[key])
    torch.save({"format": FORMAT, "format_version": 1, "payload": Payload(p["PMARK"])}, p["PK"])
    overlap = water.copy()
    overlap.positions[1] = overlap.positions[0] + [0.05, 0.0, 0.0]
    write(p["OV"], overlap, format="extxyz")
    nan = water.copy()
    nan.positions[2] = np.nan
    write(p["NAN"], nan, format="extxyz")
    singular = water.copy()
    singular.cell = [[6.0, 0, 0], [6.0, 0, 0], [0, 0, 6.0]]
    write(p["SC"], singular, format="extxyz")
    sodium = water.copy()
    sodium.numbers[0] = 11
    write(p["FE"], sodium, format="extxyz")
    Path(p["BLK"]).write_text("a regular file\n")
    Path(p["YBAD"]).write_text("output: [unclosed\n")
    p["REPO"] = str(REPO)
    return p


def _tree(*roots: Path) -> set[str]:
    return {str(q) for r in roots for q in r.rglob("*")}


def _invoke(argv: list[str], capsys) -> tuple[int, str, str]:
    from lesdistill.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- cases

BASE_RUN = """\
output: {T}/run
device: cpu
system: {{builder: water, params: {{n_molecules: 2}}}}
teacher: {{spec: analytic-ionic}}
student: {{preset: tiny}}
training: {{epochs: 1}}
md: {{n_equil: 0, n_steps: 10, stride: 2}}
"""

BASE_COMPARE = """\
name: t
output: {T}/cmp
system: {{builder: water, params: {{n_molecules: 2}}}}
teachers: [analytic-ionic]
student: {{preset: tiny}}
training: {{epochs: 1}}
md: {{n_equil: 0, n_steps: 10, stride: 2}}
"""


def run_yaml(extra: str = "", base: str = BASE_RUN, name: str = "run.yaml"
             ) -> Callable[[Path, dict[str, str]], None]:
    """Setup writing a run config (BASE_RUN, then ``extra`` lines overriding keys) to T/NAME."""

    def setup(t: Path, p: dict[str, str]) -> None:
        text = base.format(T=t)
        if extra:
            keys = {line.split(":", 1)[0] for line in extra.format(T=t, **p).splitlines()
                    if line and not line.startswith(" ")}
            kept, skip = [], False
            for line in text.splitlines():
                if line and not line.startswith(" "):
                    skip = line.split(":", 1)[0] in keys
                if not skip:
                    kept.append(line)
            text = "\n".join(kept) + "\n" + extra.format(T=t, **p)
        (t / name).write_text(text)

    return setup


def blocker(t: Path, p: dict[str, str]) -> None:
    (t / "afile").write_text("x\n")


def state_dir(backbone: str) -> Callable[[Path, dict[str, str]], None]:
    """An --out folder holding a state.pt whose fingerprint matches `train --data F --out T/o`
    and whose student names ``backbone``."""

    def setup(t: Path, p: dict[str, str]) -> None:
        import torch

        from lesdistill.data.dataset import file_digest
        from lesdistill.model import StudentConfig
        from lesdistill.training.config import TrainConfig
        from lesdistill.training.loop import _NOT_FINGERPRINTED
        from lesdistill.training.state import save_state

        out = t / "o"
        out.mkdir()
        cfg = {k: v for k, v in TrainConfig().to_dict().items() if k not in _NOT_FINGERPRINTED}
        fingerprint = {"config": cfg, "data": file_digest([Path(p["F"])]), "valid": "",
                       "init": "", "allow_new_elements": False}
        student = StudentConfig.from_preset("tiny", elements=["H", "O"]).to_dict()
        student["backbone"] = backbone
        save_state(out / "state.pt", {"fingerprint": fingerprint, "student": {"config": student},
                                      "model": {}, "epoch": 0, "x": torch.zeros(1)})

    return setup


def pickle_state(t: Path, p: dict[str, str]) -> None:
    import torch

    from .payloads import Payload

    (t / "o").mkdir()
    torch.save({"format": "lesdistill-train-state", "version": 1, "x": Payload(p["PMARK"])},
               t / "o" / "state.pt")


@dataclass
class Case:
    id: str
    argv: str
    names: tuple[str, ...]  # substrings the message must contain (the input)
    fix: str  # regex (case-insensitive) the message must match (the fix)
    setup: Callable[[Path, dict[str, str]], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    keep: tuple[str, ...] = ()  # files the setup created (they stay)


TRUST = r"--trust-backbone"
CASES = [
    # --- security: files that name code --------------------------------------------------------
    Case(
        "evil-backbone-evaluate",
        "evaluate --model {EB} --data {F}",
        ("evil_backbone.pt", EVIL),
        TRUST,
    ),
    Case("evil-backbone-md", "md {W} --model {EB} --out {T}/md", ("evil_backbone.pt",), TRUST),
    Case("evil-backbone-bec", "bec {W} --model {EB}", ("evil_backbone.pt",), TRUST),
    Case(
        "evil-backbone-train-init",
        "train --data {F} --out {T}/o --init {EB} --epochs 1 --no-progress",
        ("evil_backbone.pt",),
        TRUST,
    ),
    Case(
        "evil-backbone-state-resume",
        "train --data {F} --out {T}/o --no-progress",
        ("state.pt", EVIL),
        TRUST,
        setup=state_dir(f"{EVIL}:Factory"),
        keep=("o", "o/state.pt"),
    ),
    Case(
        "pydoc-pipepager-evaluate",
        "evaluate --model {PD} --data {F}",
        ("pydoc.pt", "pydoc:pipepager"),
        TRUST,
    ),
    Case("pydoc-pipepager-md", "md {W} --model {PD} --out {T}/md", ("pydoc.pt",), TRUST),
    Case(
        "pickle-payload-evaluate",
        "evaluate --model {PK} --data {F}",
        ("pickle.pt",),
        r"re-save|train a new",
    ),
    Case(
        "pickle-payload-evaluate-mace-env",
        "evaluate --model {PK} --data {F}",
        ("pickle.pt",),
        r"re-save|train a new",
        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
    ),
    Case(
        "pickle-payload-md-mace-env",
        "md {W} --model {PK} --out {T}/md",
        ("pickle.pt",),
        r"re-save|train a new",
        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
    ),
    Case(
        "pickle-payload-state-mace-env",
        "train --data {F} --out {T}/o --no-progress",
        ("state.pt",),
        r"delete it",
        setup=pickle_state,
        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
        keep=("o", "o/state.pt"),
    ),
    Case(
        "foreign-backbone-string",
        "evaluate --model {OS} --data {F} --trust-backbone",
        ("os:sep",),
        r"not a callable|name a Backbone",
    ),
    Case(
        "run-ase-teacher-needs-trust-code",
        "run {T}/run.yaml",
        ("run.yaml", f"ase:{EVIL}:Calculator"),
        r"--trust-code",
        setup=run_yaml(f"teacher: {{{{spec: 'ase:{EVIL}:Calculator'}}}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-custom-backbone-needs-trust-code",
        "run {T}/run.yaml",
        ("run.yaml", f"{EVIL}:Factory"),
        r"--trust-code",
        setup=run_yaml(
            f"student: {{{{preset: tiny, options: {{{{backbone: '{EVIL}:Factory'}}}}}}}}"
        ),
        keep=("run.yaml",),
    ),
    Case(
        "compare-ase-teacher-needs-trust-code",
        "compare {T}/cmp.yaml",
        ("cmp.yaml", f"ase:{EVIL}"),
        r"--trust-code",
        setup=run_yaml(f"teachers: ['ase:{EVIL}:Calculator']", BASE_COMPARE, "cmp.yaml"),
        keep=("cmp.yaml",),
    ),
    Case(
        "train-config-custom-backbone",
        "train --data {F} --out {T}/o --config {T}/t.yaml",
        ("t.yaml", f"{EVIL}:Factory"),
        r"--trust-code",
        setup=lambda t, p: (t / "t.yaml").write_text(f"model: {{backbone: '{EVIL}:Factory'}}\n"),
        keep=("t.yaml",),
    ),
    # --- devices ---------------------------------------------------------------------------------
    Case("run-water-yaml-cuda", "run {REPO}/configs/water.yaml --out {T}/w", ("cuda",), r"cpu"),
    Case(
        "run-device-cuda",
        "run {T}/run.yaml --device cuda",
        ("cuda",),
        r"use cpu",
        setup=run_yaml(),
        keep=("run.yaml",),
    ),
    Case(
        "run-config-device-cuda1",
        "run {T}/run.yaml",
        ("cuda:1",),
        r"use cpu",
        setup=run_yaml("device: cuda:1"),
        keep=("run.yaml",),
    ),
    Case(
        "run-device-banana",
        "run {T}/run.yaml --device banana",
        ("banana",),
        r"use cpu, cuda",
        setup=run_yaml(),
        keep=("run.yaml",),
    ),
    Case("train-cuda", "train --data {F} --out {T}/o --device cuda", ("cuda",), r"use cpu"),
    Case("md-cuda", "md {W} --model {S} --out {T}/md --device cuda", ("cuda",), r"use cpu"),
    Case(
        "sample-cuda",
        "sample --out {T}/f.xyz --teacher analytic-ionic --device cuda",
        ("cuda",),
        r"use cpu",
    ),
    Case(
        "label-cuda",
        "label {F} --out {T}/l.xyz --teacher analytic-ionic --device cuda",
        ("cuda",),
        r"use cpu",
    ),
    Case("evaluate-cuda", "evaluate --model {S} --data {F} --device cuda", ("cuda",), r"use cpu"),
    Case("bec-cuda", "bec {W} --model {S} --device cuda", ("cuda",), r"use cpu"),
    Case(
        "compare-cuda",
        "compare {T}/cmp.yaml --device cuda",
        ("cuda",),
        r"use cpu",
        setup=run_yaml("", BASE_COMPARE, "cmp.yaml"),
        keep=("cmp.yaml",),
    ),
    # --- command-line usage ---------------------------------------------------------------------
    Case(
        "usage-epochs-ten",
        "train --data {F} --out {T}/o --epochs ten",
        ("--epochs", "ten"),
        r"--help",
    ),
    Case(
        "usage-unknown-option",
        "train --data {F} --out {T}/o --frobnicate",
        ("--frobnicate",),
        r"--help",
    ),
    Case("usage-unknown-command", "frobnicate", ("frobnicate",), r"--help"),
    Case("usage-missing-option", "evaluate --data {F}", ("--model",), r"--help"),
    Case(
        "usage-md-temperature-text", "md {W} --temperature hot", ("--temperature", "hot"), r"--help"
    ),
    # --- output paths ---------------------------------------------------------------------------
    Case(
        "sample-out-under-file",
        "sample --out {T}/afile/f.xyz --teacher analytic-ionic",
        ("afile",),
        r"regular file.*choose",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "sample-out-dot", "sample --out . --teacher analytic-ionic", ("'.'",), r"give a file name"
    ),
    Case(
        "sample-out-existing-folder",
        "sample --out {T} --teacher analytic-ionic",
        ("--out",),
        r"give a file name",
    ),
    Case(
        "train-out-under-file",
        "train --data {F} --out {T}/afile/run --no-progress",
        ("afile",),
        r"regular file.*choose",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "train-out-is-file",
        "train --data {F} --out {T}/afile --no-progress",
        ("afile",),
        r"choose another path",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "train-out-unwritable",
        "train --data {F} --out {UNWRITABLE}/run --no-progress",
        ("run",),
        r"cannot write.*choose a folder",
    ),
    Case(
        "md-out-under-file",
        "md {W} --model {S} --out {T}/afile/md",
        ("afile",),
        r"regular file",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "evaluate-out-under-file",
        "evaluate --model {S} --data {F} --out {T}/afile/e",
        ("afile",),
        r"regular file",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "system-out-under-file",
        "system water --out {T}/afile/w.xyz --n-molecules 2",
        ("afile",),
        r"regular file",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "label-out-under-file",
        "label {F} --out {T}/afile/l.xyz --teacher analytic-ionic",
        ("afile",),
        r"regular file",
        setup=blocker,
        keep=("afile",),
    ),
    Case(
        "run-out-under-file",
        "run {T}/run.yaml --out {T}/afile/run",
        ("afile",),
        r"regular file",
        setup=lambda t, p: (blocker(t, p), run_yaml()(t, p)),
        keep=("afile", "run.yaml"),
    ),
    Case(
        "bec-out-under-file",
        "bec {W} --model {S} --out {T}/afile/b.xyz",
        ("afile",),
        r"regular file",
        setup=blocker,
        keep=("afile",),
    ),
    # --- run / compare config: whole config checked before any stage ----------------------------
    Case(
        "run-training-epochs-text",
        "run {T}/run.yaml",
        ("epochs", "'ten'"),
        r"expected an integer",
        setup=run_yaml("training: {{epochs: ten}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-training-lr-negative",
        "run {T}/run.yaml",
        ("lr",),
        r"expected a finite number > 0",
        setup=run_yaml("training: {{lr: -1}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-student-cutoff-negative",
        "run {T}/run.yaml",
        ("cutoff",),
        r"fix it in the config",
        setup=run_yaml("student: {{preset: tiny, options: {{cutoff: -1}}}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-finetune-training-bad",
        "run {T}/run.yaml",
        ("finetune.training", "batch_size"),
        r"expected an integer",
        setup=run_yaml("finetune: {{teacher: analytic-ionic, training: {{batch_size: 0}}}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-unknown-teacher",
        "run {T}/run.yaml",
        ("nosuchteacher",),
        r"known:|lesdistill teachers",
        setup=run_yaml("teacher: {{spec: nosuchteacher}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-teacher-missing-checkpoint",
        "run {T}/run.yaml",
        ("/no/such/model.model",),
        r"not usable|not found",
        setup=run_yaml("teacher: {{spec: 'mace:/no/such/model.model'}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-unknown-builder",
        "run {T}/run.yaml",
        ("waterr",),
        r"use one of",
        setup=run_yaml("system: {{builder: waterr}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-builder-bad-param",
        "run {T}/run.yaml",
        ("n_molecule",),
        r"allowed:",
        setup=run_yaml("system: {{builder: water, params: {{n_molecule: 2}}}}"),
        keep=("run.yaml",),
    ),
    Case(
        "run-system-file-missing",
        "run {T}/run.yaml",
        ("nofile.xyz",),
        r"fix the path",
        setup=run_yaml("system: {{file: nofile.xyz}}"),
        keep=("run.yaml",),
    ),
    Case("run-config-missing", "run {T}/missing.yaml", ("missing.yaml",), r"configs/|pass a|check"),
    Case("run-config-invalid-yaml", "run {YBAD}", ("bad.yaml",), r"line \d|fix"),
    Case(
        "run-unknown-stage",
        "run {T}/run.yaml --from frobnicate",
        ("frobnicate",),
        r"stages:",
        setup=run_yaml(),
        keep=("run.yaml",),
    ),
    Case(
        "run-unknown-key",
        "run {T}/run.yaml",
        ("bogus",),
        r"allowed|known|valid",
        setup=run_yaml("bogus: 1"),
        keep=("run.yaml",),
    ),
    Case(
        "compare-training-bad",
        "compare {T}/cmp.yaml",
        ("epochs",),
        r"expected an integer",
        setup=run_yaml("training: {{epochs: ten}}", BASE_COMPARE, "cmp.yaml"),
        keep=("cmp.yaml",),
    ),
    Case("compare-config-missing", "compare {T}/nope.yaml", ("nope.yaml",), r"pass a YAML file"),
    # --- md start structure ---------------------------------------------------------------------
    Case(
        "md-overlap",
        "md {OV} --model {S} --out {T}/md",
        ("overlap.xyz", "Å apart"),
        r"fix the structure",
    ),
    Case("md-nan", "md {NAN} --model {S} --out {T}/md", ("nan.xyz", "NaN"), r"fix the file"),
    Case(
        "md-singular-cell",
        "md {SC} --model {S} --out {T}/md",
        ("singular.xyz", "degenerate"),
        r"independent lattice vectors",
    ),
    Case(
        "md-unknown-element", "md {FE} --model {S} --out {T}/md", ("sodium.xyz", "Na"), r"fine-tune"
    ),
    Case(
        "md-structure-missing",
        "md {T}/none.xyz --model {S} --out {T}/md",
        ("none.xyz",),
        r"pass an",
    ),
    Case("md-model-missing", "md {W} --model {T}/none.pt --out {T}/md", ("none.pt",), r"train one"),
    Case(
        "md-truncated-pt",
        "md {W} --model {TR} --out {T}/md",
        ("truncated.pt",),
        r"re-save|train a new",
    ),
    Case("md-bad-group", "md {W} --model {S} --out {T}/md --group oops", ("oops",), r"NAME=0,1"),
    Case(
        "md-negative-timestep",
        "md {W} --model {S} --out {T}/md --timestep -1",
        ("--timestep", "-1"),
        r"give a positive",
    ),
    # --- checkpoints and data -------------------------------------------------------------------
    Case(
        "evaluate-truncated-pt",
        "evaluate --model {TR} --data {F}",
        ("truncated.pt", "truncated"),
        r"re-save",
    ),
    Case(
        "evaluate-empty-pt",
        "evaluate --model {EMPTY} --data {F}",
        ("empty.pt", "empty"),
        r"re-save",
    ),
    Case(
        "evaluate-foreign-pt",
        "evaluate --model {FP} --data {F}",
        ("foreign.pt",),
        r"written by `lesdistill train`",
    ),
    Case(
        "evaluate-model-is-folder", "evaluate --model {T} --data {F}", ("folder",), r"pass its \.pt"
    ),
    Case(
        "evaluate-model-missing",
        "evaluate --model {T}/none.pt --data {F}",
        ("none.pt",),
        r"train one",
    ),
    Case(
        "evaluate-data-missing",
        "evaluate --model {S} --data {T}/none.xyz",
        ("none.xyz",),
        r"pass labelled",
    ),
    Case(
        "evaluate-data-garbage",
        "evaluate --model {S} --data {G}",
        ("garbage.xyz",),
        r"extxyz|use|pass",
    ),
    Case(
        "train-data-missing",
        "train --data {T}/none.xyz --out {T}/o",
        ("none.xyz",),
        r"lesdistill sample",
    ),
    Case(
        "train-data-unlabelled",
        "train --data {U} --out {T}/o --no-progress",
        ("unlabelled.xyz",),
        r"label|teacher",
    ),
    Case(
        "train-init-missing",
        "train --data {F} --out {T}/o --init {T}/none.pt",
        ("none.pt",),
        r"pass a \.pt",
    ),
    Case(
        "train-config-missing",
        "train --data {F} --out {T}/o --config {T}/none.yaml",
        ("none.yaml",),
        r"check|pass|give",
    ),
    Case(
        "train-config-unknown-key",
        "train --data {F} --out {T}/o --config {T}/t.yaml",
        ("epoch",),
        r"valid options",
        setup=lambda t, p: (t / "t.yaml").write_text("epoch: 3\n"),
        keep=("t.yaml",),
    ),
    Case(
        "train-preset-huge",
        "train --data {F} --out {T}/o --preset huge",
        ("huge",),
        r"choose one of",
    ),
    Case("bec-source-missing", "bec {T}/none", ("none",), r"pass a structure file"),
    Case("bec-every-zero", "bec {W} --every 0", ("--every",), r">= 1"),
    Case("ir-trajectory-missing", "ir {T}/none", ("none",), r"lesdistill md"),
    Case("ir-out-dot", "ir {W} --out .", ("'.'",), r"file prefix"),
    # --- teachers, sampling, labelling, systems -------------------------------------------------
    Case(
        "label-xtb-d3",
        "label {F} --out {T}/l.xyz --teacher xtb-gfn1+d3",
        ("xtb-gfn1",),
        r"drop '\+d3'",
    ),
    Case(
        "label-unknown-teacher",
        "label {F} --out {T}/l.xyz --teacher nosuch",
        ("nosuch",),
        r"known:",
    ),
    Case(
        "label-input-missing",
        "label {T}/none.xyz --out {T}/l.xyz --teacher analytic-ionic",
        ("none.xyz",),
        r"lesdistill sample",
    ),
    Case(
        "label-bad-shard",
        "label {F} --out {T}/l.xyz --teacher analytic-ionic --shard 5/4",
        ("5/4",),
        r"0 <= i < n",
    ),
    Case(
        "sample-unknown-teacher", "sample --out {T}/f.xyz --teacher nosuch", ("nosuch",), r"known:"
    ),
    Case(
        "sample-structure-missing",
        "sample --out {T}/f.xyz --teacher analytic-ionic --structure {T}/none.xyz",
        ("none.xyz",),
        r"check|pass",
    ),
    Case(
        "sample-temperatures-text",
        "sample --out {T}/f.xyz --teacher analytic-ionic --temperatures hot",
        ("--temperatures", "hot"),
        r"comma-separated numbers",
    ),
    Case(
        "sample-thermostat-unknown",
        "sample --out {T}/f.xyz --teacher chgnet --thermostat andersen",
        ("andersen",),
        r"(use|choose) one of",
    ),
    Case(
        "merge-shard-missing",
        "merge {T}/none.xyz --out {T}/m.xyz",
        ("none.xyz",),
        r"lesdistill label",
    ),
    Case("system-unknown", "system waterr --out {T}/w.xyz", ("waterr",), r"known:"),
    Case("system-unknown-param", "system water --out {T}/w.xyz --bogus 1", ("bogus",), r"known:"),
    Case(
        "system-bad-value",
        "system water --out {T}/w.xyz --n-molecules 0",
        ("n_molecules",),
        r">= 1",
    ),
]


def _unwritable(tmp_path: Path) -> str:
    """A folder this process cannot write in (root ignores permission bits: use /proc)."""
    if os.geteuid() == 0:
        return "/proc/self"
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, inputs, tmp_path, monkeypatch, capsys):
    t = tmp_path / "work"
    t.mkdir()
    monkeypatch.chdir(t)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("LESDISTILL_EVIL_MARKER", inputs["MARK"])
    monkeypatch.delenv("LESDISTILL_DEBUG", raising=False)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delitem(sys.modules, EVIL, raising=False)
    for marker in ("MARK", "PMARK", "SHMARK"):  # a failed earlier case must not fail this one
        Path(inputs[marker]).unlink(missing_ok=True)
    if case.setup is not None:
        case.setup(t, inputs)
    before = _tree(t, Path(inputs["S"]).parent)
    argv = case.argv.format(T=t, UNWRITABLE=_unwritable(tmp_path), **inputs).split()
    code, out, err = _invoke(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"{len(lines)} stderr lines: {err[-2000:]}"
    message = lines[0]
    for name in case.names:
        assert name in message, f"message does not name {name!r}: {message}"
    assert re.search(case.fix, message, re.IGNORECASE), f"no fix ({case.fix}) in: {message}"
    for marker in ("MARK", "PMARK", "SHMARK"):
        assert not Path(inputs[marker]).exists(), f"code from a file ran ({marker}): {message}"
    assert _tree(t, Path(inputs["S"]).parent) == before, "output left behind"


def test_corpus_size():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


# --------------------------------------------------------------------------- controls

def test_trusted_backbone_does_run(inputs, tmp_path, monkeypatch, capsys):
    """Control: with --trust-backbone the same evil file does import and call its code, so the
    'nothing ran' assertions above can fail."""
    marker = tmp_path / "marker"
    monkeypatch.setenv("LESDISTILL_EVIL_MARKER", str(marker))
    monkeypatch.delitem(sys.modules, EVIL, raising=False)
    with pytest.raises(RuntimeError, match="the evil backbone ran"):
        _invoke(["evaluate", "--model", inputs["EB"], "--data", inputs["F"], "--trust-backbone"],
                capsys)
    assert marker.read_text().split("\n")[:2] == ["imported", "backbone called"]


def test_pickle_payload_runs_without_weights_only(inputs, tmp_path):
    """Control: the pickle file does carry a payload (plain torch.load runs it)."""
    import torch

    from .payloads import Payload

    marker = tmp_path / "payload-ran"
    path = tmp_path / "p.pt"
    torch.save({"x": Payload(str(marker))}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_safe_load_under_mace_env_and_safe_globals(inputs, tmp_path, monkeypatch):
    """Our one load helper refuses the payload with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (what
    importing mace sets) and with the payload's class registered as a safe global by another
    package; the process settings are restored afterwards."""
    import torch

    from lesdistill.safeload import UnreadableTorchFile, load_tensors

    from .payloads import Payload

    marker = tmp_path / "payload-ran"
    path = tmp_path / "p.pt"
    torch.save({"x": Payload(str(marker))}, path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    torch.serialization.add_safe_globals([Payload, open])
    try:
        with pytest.raises(UnreadableTorchFile, match="pickled code"):
            load_tensors(path)
        assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"
        assert Payload in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()
    assert not marker.exists()
    assert load_tensors(inputs["S"])["format"] == "lesdistill-student"


def test_library_refuses_untrusted_backbone_and_cuda(inputs, monkeypatch):
    from lesdistill import StudentCalculator
    from lesdistill.errors import UntrustedCodeError
    from lesdistill.model import load_student

    monkeypatch.setenv("LESDISTILL_EVIL_MARKER", inputs["MARK"])
    monkeypatch.delitem(sys.modules, EVIL, raising=False)
    with pytest.raises(UntrustedCodeError, match="trust_backbone=True"):
        load_student(inputs["EB"])
    with pytest.raises(UntrustedCodeError):
        StudentCalculator(inputs["PD"])
    assert not Path(inputs["MARK"]).exists() and not Path(inputs["SHMARK"]).exists()
    import torch

    if torch.version.cuda is None:
        with pytest.raises(ValueError, match="use cpu"):
            StudentCalculator(inputs["S"], device="cuda")


def test_teachers_check_agrees_with_label(capsys):
    code, out, _ = _invoke(["teachers", "--check", "xtb-gfn1+d3"], capsys)
    assert code == 1 and "drop '+d3'" in out


def test_internal_bug_keeps_traceback(inputs, monkeypatch, capsys):
    """A TypeError/KeyError inside the library is not reported as bad input."""
    import importlib

    # the module (``lesdistill.training.evaluate`` as an attribute is the function)
    ev = importlib.import_module("lesdistill.training.evaluate")

    def broken(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(ev, "evaluate", broken)
    with pytest.raises(KeyError):
        _invoke(["evaluate", "--model", inputs["S"], "--data", inputs["F"]], capsys)


def test_unwritable_folder_names_the_users_path(tmp_path, monkeypatch):
    """When the temporary file cannot be created, the error names the output, not the temp."""
    import tempfile

    from lesdistill.errors import UserInputError
    from lesdistill.fileio import atomic_path, write_text_atomic

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.abc.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "out.txt"
    with pytest.raises(UserInputError, match=r"cannot write .*out\.txt: Permission denied; choose"):
        write_text_atomic(target, "x")
    with pytest.raises(UserInputError, match="out.txt"):
        with atomic_path(target):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_md_prints_its_summary_once(inputs, tmp_path, capsys):
    code, out, err = _invoke(
        [
            "md",
            inputs["W"],
            "--model",
            inputs["S"],
            "--out",
            str(tmp_path / "md"),
            "--equil-ps",
            "0",
            "--production-ps",
            "0.004",
            "--timestep",
            "0.5",
            "--stride",
            "1",
            "--bec-every",
            "0",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert (out + err).count("MD: ") == 1


SUBPROCESS = [
    (["train", "--data", "{F}", "--out", "{T}/o", "--epochs", "ten"], ("--epochs",), {}),
    (["evaluate", "--model", "{PK}", "--data", "{F}"], ("pickle.pt",),
     {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}),
]


@pytest.mark.parametrize("argv,names,env", SUBPROCESS, ids=["usage", "pickle-mace-env"])
def test_bad_input_subprocess(argv, names, env, inputs, tmp_path):
    """The real console entry point (a fresh interpreter): same one-line answers."""
    full = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "LESDISTILL_DEBUG": "",
            "LESDISTILL_EVIL_MARKER": inputs["MARK"], **env,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src"),
                                           os.environ.get("PYTHONPATH", "")])}
    args = [a.format(T=tmp_path, **inputs) for a in argv]
    proc = subprocess.run([sys.executable, "-c", "from lesdistill.cli import main; main()", *args],
                          capture_output=True, text=True, env=full, timeout=300, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(n in lines[0] for n in names), lines[0]
    assert not Path(inputs["MARK"]).exists() and not Path(inputs["PMARK"]).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
