#!/usr/bin/env bash
# Create (or reuse) one virtual environment per teacher family.
#
#   .ci/teacher-envs.sh [family ...]     families: fairchem orb pet mattersim mace (default: all)
#
# Each environment holds torch==2.13.0 (CPU), the family's package at the version lesdistill is
# tested with and (except mace) lesdistill's dependencies and pytest; the tests put this
# checkout's src/ first on PYTHONPATH, so an environment does not depend on the checkout and is
# reused by every clone on the machine. mace-torch pins e3nn 0.4.4 and cannot share lesdistill's
# environment: its venv holds only mace-torch + ASE and serves labels over the socket teacher
# (`env:PYTHON@mace:PATH`). An environment is reused when its stamp file records the same install
# line; delete its folder to rebuild it.
#   LESDISTILL_TEACHER_VENVS  parent folder (default: ~/.cache/lesdistill/teacher-envs)
#   PYTHON                    interpreter for the venvs (default: python3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENVS=${LESDISTILL_TEACHER_VENVS:-${XDG_CACHE_HOME:-$HOME/.cache}/lesdistill/teacher-envs}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# family -> pip install line; LESDISTILL stands for this checkout with its [test] extra
line() {
  case "$1" in
    fairchem)  echo "torch==2.13.0 fairchem-core==2.24.0 LESDISTILL" ;;
    orb)       echo "torch==2.13.0 orb-models==0.5.5 LESDISTILL" ;;
    pet)       echo "torch==2.13.0 upet==0.3.1 metatomic-torch==0.1.19 LESDISTILL" ;;
    mattersim) echo "torch==2.13.0 mattersim==1.2.3 LESDISTILL" ;;
    mace)      echo "torch==2.13.0 mace-torch==0.3.16 ase" ;;
    *) echo "unknown teacher family '$1' (known: fairchem orb pet mattersim mace)" >&2; return 2 ;;
  esac
}

families=("$@")
[ ${#families[@]} -gt 0 ] || families=(fairchem orb pet mattersim mace)
for fam in "${families[@]}"; do
  spec=$(line "$fam")
  dir=$VENVS/$fam
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$spec" ] && [ -x "$dir/bin/python" ]; then
    echo "teacher env $fam: reused ($dir)"
    continue
  fi
  start=$(date +%s)
  rm -rf "$dir"
  mkdir -p "$VENVS"
  "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
  # shellcheck disable=SC2086
  "$dir/bin/python" -m pip install --quiet ${spec/LESDISTILL/$ROOT[test]} 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  if [ "$fam" = mattersim ]; then
    # mattersim pulls torchvision, whose compiled ops do not load against the CPU torch 2.13.0
    "$dir/bin/python" -m pip uninstall --quiet -y torchvision || true
  fi
  "$dir/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
  echo "$spec" > "$dir/.stamp"
  echo "teacher env $fam: installed in $(( $(date +%s) - start )) s ($dir)"
done
