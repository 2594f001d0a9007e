"""Run config: YAML round trip, presets, unknown keys and bad values give clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesdistill.config import (
    RunConfig,
    available_presets,
    config_from_dict,
    dump_config,
    load_config,
    load_preset,
)
from lesdistill.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    cfg = RunConfig()
    assert cfg.teacher.spec == "chgnet" and cfg.finetune is None
    again = load_config(_write(tmp_path, dump_config(cfg)))
    assert again == cfg


def test_yaml_overrides_and_types(tmp_path: Path) -> None:
    path = _write(tmp_path, """
output: out
system: {builder: water, params: {n_molecules: 8}}
sampling: {temperatures_K: [300, 400], n_frames: 5, stride: 2}
md: {n_steps: 100, temperature_K: 350}
""")
    cfg = load_config(path)
    assert cfg.sampling.temperatures_K == (300.0, 400.0)
    assert cfg.md.temperature_K == 350.0 and cfg.md.timestep_fs == 0.5
    assert cfg.system.params == {"n_molecules": 8}


@pytest.mark.parametrize(("text", "needle"), [
    ("samplng: {n_frames: 3}", "unknown config key 'samplng'"),
    ("sampling: {n_frame: 3}", "unknown config key 'sampling.n_frame'"),
    ("md: {n_steps: ten}", "md.n_steps must be an integer"),
    ("md: {n_steps: 0}", "md.n_steps must be > 0"),
    ("sampling: {relax: 1}", "sampling.relax must be true or false"),
    ("system: {builder: water, file: x.xyz}", "exactly one of 'builder'"),
    ("finetune: {n_frames: 3}", "finetune: give exactly one"),
    ("ir: {correction: quantum}", "ir.correction"),
    ("sampling: {valid_fraction: 0.5, test_fraction: 0.5}", "must be < 0.9"),
    ("md: 3", "md must be a mapping"),
    ("- a\n- b", "must be a mapping of keys"),
    ("preset: nosuch", "unknown preset 'nosuch'"),
    ("training: {model_preset: tiny}", "use student.preset"),
    ("training: {epoch: 3}", "unknown config key 'training.epoch'"),
    ("student: {options: {channel: 3}}", "unknown config key 'student.options.channel'"),
    ("student: {options: {elements: [H]}}", "come from the training data"),
    ("finetune: {teacher: xtb-gfn2, training: {lr_max: 1}}", "finetune.training.lr_max"),
    ("system: {builder: tio2-water, params: {vacuum_A: 10.0}}",
     "set student.options.les_slab_correction"),
])
def test_bad_configs_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(UserInputError, match=needle.replace("(", r"\(")):
        load_config(_write(tmp_path, text))


def test_missing_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(UserInputError, match="not valid YAML"):
        load_config(_write(tmp_path, "a: [1, 2\nb: 3"))


def test_relative_input_files_resolve_against_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "cfgs"
    sub.mkdir()
    path = sub / "r.yaml"
    path.write_text("system: {builder: null, file: box.extxyz}\n"
                    "finetune: {data: ft.extxyz}\n")
    cfg = load_config(path)
    assert cfg.system.file == str(sub / "box.extxyz")
    assert cfg.finetune is not None and cfg.finetune.data == str(sub / "ft.extxyz")


def test_demo_preset_ships_in_package(tmp_path: Path) -> None:
    assert "demo" in available_presets()
    demo = load_preset("demo")
    assert demo.teacher.spec == "chgnet"
    # a YAML can start from a preset and override single values
    cfg = load_config(_write(tmp_path, "preset: demo\nmd: {n_steps: 10, stride: 1}\n"))
    assert cfg.md.n_steps == 10 and cfg.sampling == demo.sampling
    assert config_from_dict({}) == RunConfig()


def test_demo_config_copies_are_identical() -> None:
    packaged = REPO / "src" / "lesdistill" / "configs" / "demo.yaml"
    assert (REPO / "configs" / "demo.yaml").read_text() == packaged.read_text()


def test_slab_with_vacuum_loads_with_an_explicit_slab_correction(tmp_path: Path) -> None:
    for choice in ("yeh-berkowitz", "none"):
        text = ("system: {builder: tio2-water, params: {vacuum_A: 10.0}}\n"
                f"student: {{options: {{les_slab_correction: {choice}}}}}")
        cfg = load_config(_write(tmp_path, text))
        assert cfg.student.options["les_slab_correction"] == choice


@pytest.mark.parametrize(
    "name",
    [
        "demo",
        "water",
        "water-gpu-uma",
        "water-cpu-60min",
        "hcl",
        "hcl-cpu-60min",
        "tio2-water",
        "tio2-water-cpu-60min",
        "tio2-water-finetune",
    ],
)
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg.output
    if name.endswith("finetune"):
        from lesdistill.pipeline.preflight import check_sections

        assert cfg.finetune is not None and cfg.finetune.fractions
        check_sections(cfg)  # every fraction gets its own number of training frames


def test_demo_finds_the_dft_reference(tmp_path: Path, monkeypatch) -> None:
    """`lesdistill demo` scores BECs against the DFT frames when it finds them (and the paper's
    students beside them); a --reference folder without them is one line, exit 2."""
    import shutil

    from lesdistill.cli.pipeline import DEMO_REFERENCE, _demo_evaluate, _demo_reference
    from lesdistill.errors import UserInputError

    shared = REPO.parent / "shared" / "reference"
    if not (shared / DEMO_REFERENCE).is_file():
        pytest.skip("../shared/reference is not beside the checkout")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LESDISTILL_REFERENCE_DIR", raising=False)
    assert _demo_reference(None) is None
    ref = tmp_path / "shared" / "reference"
    ref.mkdir(parents=True)
    shutil.copy(shared / DEMO_REFERENCE, ref)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert _demo_reference(None) == Path("../shared/reference")
    ev = _demo_evaluate(Path("../shared/reference"))
    assert ev["bec_reference"] == str(ref / DEMO_REFERENCE) and ev["bec_compare"] == []
    shutil.copy(shared / "water_bec_student_UMA-M_3frames.extxyz", ref)
    assert load_preset("demo", evaluate=_demo_evaluate(ref)).evaluate.bec_compare[0].endswith(
        "UMA-M_3frames.extxyz:MACE_BEC:sqrt(1.78)")
    with pytest.raises(UserInputError, match="no water_dft_bec_3frames"):
        _demo_reference(tmp_path)


def test_stage_hashes_ignore_settings_at_their_defaults() -> None:
    """A new setting whose default keeps the old behaviour leaves finished stages valid: the
    hash view holds only the fields that differ from their defaults (recursively)."""
    import dataclasses

    from lesdistill.pipeline import hash_view
    from lesdistill.sampling.settings import SampleSettings

    assert hash_view(SampleSettings()) == {}
    view = hash_view(SampleSettings(n_frames=72, temperatures_K=(300.0, 330.0)))
    assert view == {"n_frames": 72, "temperatures_K": [300.0, 330.0]}
    demo = load_preset("demo")
    assert "snapshot_fraction" not in hash_view(demo.sampling)
    changed = dataclasses.replace(demo, sampling=demo.sampling.replace(snapshot_fraction=0.5))
    assert hash_view(changed.sampling)["snapshot_fraction"] == 0.5
    assert hash_view(demo)["sampling"] == hash_view(demo.sampling)
