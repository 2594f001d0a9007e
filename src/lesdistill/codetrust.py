"""Config files that name code: ``ase:`` teachers and custom backbones need an explicit opt-in.

A run or compare config (YAML) is data, except for two keys whose values name Python code that
lesdistill would import and call: a teacher spec ``ase:package.module:Factory`` (``teacher.spec``,
``finetune.teacher``, ``teachers[i]``) and a student backbone ``package.module:Factory``
(``student.options.backbone``; the built-in ``painn`` and installed ``lesdistill.backbones``
entry points are not code from the file). Loading such a file raises
:class:`~lesdistill.errors.UntrustedCodeError` unless the caller passes ``trust_code=True``
(``--trust-code`` on the command line). With the opt-in, the named backbone is also trusted for
the students this process writes and reads back (see :func:`lesdistill.model.trust_backbone`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lesdistill.errors import UntrustedCodeError

OPT_IN = "--trust-code (trust_code=True)"


def _is_ase(spec: Any) -> bool:
    return isinstance(spec, str) and spec.strip().startswith("ase:")


def code_references(teacher_specs: Iterable[tuple[str, Any]],
                    student_options: Mapping[str, Any] | None) -> list[str]:
    """Human-readable list of what in a config names code (``where=value``)."""
    from lesdistill.model.backbone import BUILTIN_BACKBONES, is_trusted_backbone

    refs = [f"{where}={spec!r}" for where, spec in teacher_specs if _is_ase(spec)]
    backbone = (student_options or {}).get("backbone")
    if isinstance(backbone, str) and backbone not in BUILTIN_BACKBONES \
            and not is_trusted_backbone(backbone):
        refs.append(f"student.options.backbone={backbone!r}")
    return refs


def require_trust(source: Any, refs: list[str], trust_code: bool,
                  student_options: Mapping[str, Any] | None = None) -> None:
    """Raise unless ``trust_code`` when ``refs`` is not empty; with it, trust the backbone."""
    if refs and not trust_code:
        raise UntrustedCodeError(
            f"{source} names code that lesdistill would import and run ({', '.join(refs)}); if "
            f"you trust this config, pass {OPT_IN}")
    backbone = (student_options or {}).get("backbone")
    if trust_code and isinstance(backbone, str) and backbone != "painn":
        from lesdistill.model.backbone import trust_backbone

        trust_backbone(backbone)


def check_run_config(cfg: Any, source: Any, trust_code: bool) -> None:
    """Opt-in check of a :class:`lesdistill.config.RunConfig` read from ``source``."""
    teachers = [("teacher.spec", cfg.teacher.spec)]
    if cfg.finetune is not None:
        teachers.append(("finetune.teacher", cfg.finetune.teacher))
    options = cfg.student.options
    require_trust(source, code_references(teachers, options), trust_code, options)


def check_compare_config(cfg: Any, source: Any, trust_code: bool) -> None:
    """Opt-in check of a :class:`lesdistill.compare.config.CompareConfig` read from ``source``."""
    teachers = [(f"teachers[{i}]", e.spec) for i, e in enumerate(cfg.teachers)]
    student = cfg.sections.get("student") or {}
    options = student.get("options") if isinstance(student, dict) else None
    options = options if isinstance(options, dict) else {}
    require_trust(source, code_references(teachers, options), trust_code, options)
