#!/usr/bin/env bash
# Train and ship the maze zoo one agent at a time (never two trainings at once); rerun to resume after a stop.
#   bash tasks/maze/train_zoo.sh [> log]
# Agents already shipped into tasks/maze/zoo/ are skipped; a stopped run continues from its state.pt.
set -uo pipefail
# One torch thread: the zoo's numbers (and weights) were produced so, and a second thread gains little for this
# small net while it makes anything else on a 2-core machine thrash (PPO fell to ~700 steps/s beside a test run).
export OMP_NUM_THREADS=1
cd "$(dirname "$0")/../.."
runs=${MIRL_HOME:-$HOME/.local/share/mirl}/runs
for seed in 0 1 2; do
    for region in full 5 2 1 3; do
        id="maze-r${region}-s${seed}"
        [ "$id" = "maze-r3-s0" ] && continue  # that is maze-ppo
        [ -f "tasks/maze/zoo/${id}.pt" ] && continue
        resume=()
        [ -f "$runs/${id}-seed${seed}/state.pt" ] && resume=(--resume)
        echo "== $id $(date -u +%H:%M:%S)"
        mirl agents train maze --agent "$id" --ship "${resume[@]}" || exit 1
    done
done
echo "== zoo done $(date -u +%H:%M:%S)"
