#!/usr/bin/env bash
# Teacher-family test groups: each family's tests against its real package, in its own venv.
#
#   .ci/teacher-tests.sh [family ...]     (default: fairchem mace orb pet mattersim)
#
# Creates or reuses the family's venv (.ci/teacher-envs.sh), then runs
# tests/teachers/families/test_<family>.py (marker `teachers`) there with this checkout's src/
# first on PYTHONPATH. MACE runs in lesdistill's own .venv and reaches mace-torch in its venv
# through the socket teacher. Prints the install and test time of each group.
# LESDISTILL_TEACHER_CI_BUDGET_S (default 2700): a group that would start after this many seconds
# since the script began is skipped with a message, so CI stays inside its time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
VENVS=${LESDISTILL_TEACHER_VENVS:-${XDG_CACHE_HOME:-$HOME/.cache}/lesdistill/teacher-envs}
BUDGET=${LESDISTILL_TEACHER_CI_BUDGET_S:-2700}
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(fairchem mace orb pet mattersim)
begin=$(date +%s)
status=0
for fam in "${families[@]}"; do
  if [ $(( $(date +%s) - begin )) -gt "$BUDGET" ]; then
    echo "teacher group $fam: SKIPPED, the ${BUDGET} s budget of the teacher groups is used up"
    continue
  fi
  t0=$(date +%s)
  .ci/teacher-envs.sh "$fam"
  t1=$(date +%s)
  if [ "$fam" = mace ]; then
    py=.venv/bin/python
    export LESDISTILL_MACE_PYTHON=$VENVS/mace/bin/python
  else
    py=$VENVS/$fam/bin/python
  fi
  rc=0
  "$py" -m pytest -q -p no:cacheprovider -m teachers "tests/teachers/families/test_$fam.py" || rc=$?
  t2=$(date +%s)
  echo "teacher group $fam: env $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
  [ "$rc" = 0 ] || status=1
done
exit $status
