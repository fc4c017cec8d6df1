"""Leaderboard statistics (ranking, ties, failures, latest result) and rendering, plus `mirl bench` end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mirl.leaderboards.render import render_json, render_markdown, render_table
from mirl.leaderboards.stats import leaderboards, task_rows

SMOKE_TASK_IDS = ["smoke/goal-readout-v1", "smoke/goal-retarget-v1", "smoke/goal-units-v1", "smoke/next-action-v1"]
JSON_FIELDS = {"rank", "method", "score", "ci_low", "ci_high", "normalized_score", "n", "env_steps",
               "forward_passes", "wall_seconds", "date"}


def scored(make_result, method, score, ci, day=1, floor=None, **kw):
    """A result whose floor (0.5; 1.0 when lower is better) and ceiling give the normalised score."""
    higher = kw.get("higher_is_better", True)
    floor = (0.5 if higher else 1.0) if floor is None else floor
    ceiling = 1.0 if higher else 0.0
    return make_result(method=method, score=score, ci=ci, normalized_score=(score - floor) / (ceiling - floor),
                       metrics={"score": score, "floor": floor, "ceiling": ceiling},
                       created_at=f"2026-01-{day:02d}T00:00:00+00:00", **kw)


# --- stats ------------------------------------------------------------------------------------------------


def test_best_first_when_higher_is_better(make_result):
    results = [
        scored(make_result, "low", 0.55, (0.50, 0.60)),
        scored(make_result, "high", 0.95, (0.90, 1.00)),
        scored(make_result, "mid", 0.75, (0.70, 0.80)),
    ]
    rows = task_rows(results)
    assert [(r.method, r.rank, r.tied) for r in rows] == [("high", 1, False), ("mid", 2, False), ("low", 3, False)]


def test_best_first_when_lower_is_better(make_result):
    results = [
        scored(make_result, "low", 0.55, (0.50, 0.60), higher_is_better=False, primary_metric="brier"),
        scored(make_result, "high", 0.95, (0.90, 1.00), higher_is_better=False, primary_metric="brier"),
        scored(make_result, "mid", 0.75, (0.70, 0.80), higher_is_better=False, primary_metric="brier"),
    ]
    rows = task_rows(results)
    assert [(r.method, r.rank) for r in rows] == [("low", 1), ("mid", 2), ("high", 3)]


def test_rows_with_their_own_floors_rank_by_the_normalised_score(make_result):
    """Size-matched random-edit floors differ per answer: a raw score above another's can still be worse."""
    results = [
        scored(make_result, "edit", 0.40, (0.35, 0.45), floor=0.10),  # 0.30 over its floor: 0.33 normalised
        scored(make_result, "random", 0.45, (0.40, 0.50), floor=0.45),  # at its own floor: 0
    ]
    rows = task_rows(results)
    assert [(r.method, r.rank, r.tied) for r in rows] == [("edit", 1, False), ("random", 2, False)]
    assert rows[0].normalized_ci_low == pytest.approx(0.25 / 0.9) and rows[1].normalized_ci_high > 0


def test_overlapping_cis_share_the_rank_and_are_marked_tied(make_result):
    results = [
        scored(make_result, "a", 0.90, (0.80, 1.00)),
        scored(make_result, "b", 0.85, (0.75, 0.95)),  # overlaps a
        scored(make_result, "c", 0.50, (0.40, 0.60)),  # clear of b
        scored(make_result, "d", 0.30, (0.20, 0.40)),  # touches c's CI: still overlapping
    ]
    rows = task_rows(results)
    assert [(r.method, r.rank, r.tied) for r in rows] == [
        ("a", 1, True), ("b", 1, True), ("c", 3, True), ("d", 3, True),
    ]
    table = render_table({"smoke/goal-readout-v1": rows}, {})
    assert re.search(r"^1=\s+a\s", table, re.M) and re.search(r"^1=\s+b\s", table, re.M)
    assert re.search(r"^3=\s+c\s", table, re.M)


def test_failed_only_method_is_listed_last_with_its_latest_error(make_result):
    results = [
        make_result(method="broken", status="failed", error="first failure", created_at="2026-01-01T00:00:00+00:00"),
        scored(make_result, "ok_method", 0.6, (0.5, 0.7), day=2),
        make_result(method="broken", status="failed", error="budget exceeded", created_at="2026-01-03T00:00:00+00:00"),
        make_result(method="aaa_broken", status="failed", error="boom", created_at="2026-01-04T00:00:00+00:00"),
    ]
    rows = task_rows(results)
    assert [r.method for r in rows] == ["ok_method", "aaa_broken", "broken"]
    assert rows[0].rank == 1 and rows[0].status == "ok"
    broken = rows[2]
    assert (broken.status, broken.rank, broken.error, broken.runs, broken.score) == (
        "failed", None, "budget exceeded", 2, None)
    table = render_table({"smoke/goal-readout-v1": rows}, {})
    assert "failed: budget exceeded" in table and "failed: boom" in table


def test_latest_ok_result_of_a_method_is_shown(make_result):
    results = [
        scored(make_result, "probe", 0.60, (0.55, 0.65), day=1),
        scored(make_result, "probe", 0.80, (0.75, 0.85), day=3),  # the latest ok one
        scored(make_result, "probe", 0.70, (0.65, 0.75), day=2),
        make_result(method="probe", status="failed", error="later failure", created_at="2026-01-04T00:00:00+00:00"),
    ]
    rows = task_rows(results)
    assert len(rows) == 1
    (row,) = rows
    assert (row.status, row.score, row.ci_low, row.ci_high, row.runs, row.rank) == ("ok", 0.80, 0.75, 0.85, 4, 1)
    assert row.result_id == results[1].result_id
    assert row.date == "2026-01-03"


def test_a_stochastic_method_shows_its_seed_to_seed_spread(make_result):
    results = [
        scored(make_result, "random", 0.55, (0.5, 0.6), day=1, seed=0),
        scored(make_result, "random", 0.45, (0.4, 0.5), day=2, seed=1),
        scored(make_result, "random", 0.60, (0.55, 0.65), day=3, seed=2),
        scored(make_result, "random", 0.50, (0.45, 0.55), day=4, seed=1),  # seed 1 again: its latest counts
        scored(make_result, "probe", 0.90, (0.85, 0.95), day=1, seed=0),
    ]
    rows = {r.method: r for r in task_rows(results)}
    spread = rows["random"]
    normalized = [(s - 0.5) / 0.5 for s in (0.55, 0.50, 0.60)]
    assert spread.seeds == 3 and spread.seed_mean == pytest.approx(np.mean(normalized))
    assert spread.seed_sd == pytest.approx(np.std(normalized, ddof=1))
    assert rows["probe"].seeds == 1 and rows["probe"].seed_sd is None
    table = render_table({"t": list(rows.values())}, {})
    assert "3: 0.10 ± 0.10" in table


def test_the_reference_oracle_is_shown_after_the_ranked_rows_never_ranked(make_result):
    results = [
        scored(make_result, "oracle", 1.0, (1.0, 1.0), reference=True, sealed=False),
        scored(make_result, "probe", 0.9, (0.85, 0.95), sealed=True),
        scored(make_result, "random", 0.55, (0.5, 0.6), sealed=True),
        make_result(method="broken", status="failed"),
        # stored before results said so: an oracle that ran in the scoring process is mirl's reference
        scored(make_result, "oracle", 1.0, (1.0, 1.0), sealed=None, task_id="smoke/goal-units-v1"),
    ]
    boards = leaderboards(results)
    rows = boards["smoke/goal-readout-v1"]
    assert [(r.method, r.rank, r.reference) for r in rows] == [
        ("probe", 1, False), ("random", 2, False), ("oracle", None, True), ("broken", None, False)]
    assert [(r.method, r.rank, r.reference) for r in boards["smoke/goal-units-v1"]] == [("oracle", None, True)]
    assert "ref   oracle" in render_table({"t": rows}, {})


def test_leaderboards_group_by_task(make_result):
    results = [
        scored(make_result, "a", 0.9, (0.8, 1.0), task_id="smoke/goal-units-v1"),
        scored(make_result, "b", 0.7, (0.6, 0.8)),
        scored(make_result, "a", 0.6, (0.5, 0.65)),
    ]
    boards = leaderboards(results)
    assert list(boards) == ["smoke/goal-readout-v1", "smoke/goal-units-v1"]
    assert [r.method for r in boards["smoke/goal-readout-v1"]] == ["b", "a"]
    assert [r.method for r in boards["smoke/goal-units-v1"]] == ["a"]
    assert leaderboards([]) == {}


# --- rendering -------------------------------------------------------------------------------------------


@pytest.fixture
def boards(make_result):
    results = [
        scored(make_result, "oracle", 1.0, (1.0, 1.0), n=500, reference=True, sealed=False),
        scored(make_result, "probe", 0.8125, (0.75, 0.875), n=500),
        make_result(method="broken", status="failed", error="method raised ValueError at x.py:3: bad"),
        scored(make_result, "probe", 0.625, (0.5, 0.75), task_id="smoke/goal-units-v1", primary_metric="auroc"),
    ]
    return leaderboards(results), {"smoke/goal-readout-v1": "accuracy", "smoke/goal-units-v1": "auroc"}


def test_render_table(boards):
    text = render_table(*boards)
    assert "smoke/goal-readout-v1  (accuracy)" in text and "smoke/goal-units-v1  (auroc)" in text
    for method in ("oracle", "probe", "broken"):
        assert method in text
    assert "1.000 [1.000, 1.000]" in text and "0.812 [0.750, 0.875]" in text and "0.625 [0.500, 0.750]" in text
    assert "failed: method raised ValueError" in text
    assert "score [95% CI]" in text and "norm." in text
    assert render_table({}, {}).startswith("no results yet")


def test_render_markdown(boards):
    text = render_markdown(*boards)
    assert "### smoke/goal-readout-v1 (accuracy)" in text
    assert "| rank | method | score [95% CI] |" in text
    assert "| 1 | probe | 0.812 [0.750, 0.875] | 0.62 |" in text
    assert "| ref | oracle | 1.000 [1.000, 1.000] | 1.00 |" in text  # shown for scale, after the ranked rows
    assert "| × | broken | failed: method raised ValueError" in text
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            assert line.count("|") == 11  # 10 columns
    assert render_markdown({}, {}) == "_no results yet_"


def test_render_json(boards):
    data = json.loads(render_json(*boards))
    assert set(data) == {"smoke/goal-readout-v1", "smoke/goal-units-v1"}
    board = data["smoke/goal-readout-v1"]
    assert board["primary_metric"] == "accuracy"
    rows = board["rows"]
    for row in rows:
        assert JSON_FIELDS <= set(row)
    assert [(r["rank"], r["method"], r["reference"]) for r in rows] == [
        (1, "probe", False), (None, "oracle", True), (None, "broken", False)]
    probe = rows[0]
    assert (probe["score"], probe["ci_low"], probe["ci_high"], probe["n"]) == (0.8125, 0.75, 0.875, 500)
    assert probe["normalized_score"] == pytest.approx(0.625)
    assert (probe["env_steps"], probe["forward_passes"], probe["wall_seconds"]) == (1000, 2048, 1.5)
    assert probe["date"] == "2026-01-01"
    assert rows[2]["status"] == "failed" and rows[2]["error"].startswith("method raised ValueError")
    assert json.loads(render_json({}, {})) == {}


# --- end to end -------------------------------------------------------------------------------------------


def parse_tables(text: str) -> dict[str, list[list[str]]]:
    """Terminal leaderboard → task id → rows of cells."""
    boards = {}
    for section in text.strip().split("\n\n"):
        lines = section.splitlines()
        if len(lines) < 3 or not lines[2].startswith("----"):
            continue
        task = lines[0].split()[0]
        boards[task] = [re.split(r"\s{2,}", line.strip()) for line in lines[3:]]
    return boards


GOAL_UNITS_METHODS = {"ablation-scan", "activation-variance", "gradient-x-activation", "integrated-gradients",
                      "attribution-patching"}


@pytest.mark.slow
def test_bench_end_to_end(home, cli, cli_cwd):
    proc = cli("bench", "--tasks", "smoke/*", "--no-wandb", home=home)  # coinrun: benchmarks/test_task_scoring.py

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    boards = parse_tables(proc.stdout)
    assert sorted(boards) == SMOKE_TASK_IDS
    for task, rows in boards.items():
        by_method = {cells[1]: cells for cells in rows}
        real = {"goal-readout": {"linear-probe", "sparse-probe", "nmf-probe"},
                "next-action": {"linear-probe", "sparse-probe", "nmf-probe", "obs-only-predictor", "prior"},
                "goal-units": GOAL_UNITS_METHODS,
                "goal-retarget": {"mean-difference", "probe-steering", "channel-clamp", "projection-removal"}}
        expected = {"oracle", "random"} | next(v for k, v in real.items() if k in task)
        assert set(by_method) == expected, task
        oracle = by_method["oracle"]
        assert oracle[0] == "ref", task  # mirl's reference, not a ranked method
        ranks = [cells[0] for cells in rows]
        assert ranks.index("ref") == max(i for i, r in enumerate(ranks) if r != "×"), task  # after the ranked rows
        assert oracle[3] == "1.00", task
        assert abs(float(by_method["random"][3])) < 0.3, task  # random ≈ 0 normalised
    assert list(cli_cwd.iterdir()) == []

    proc = cli("leaderboard", "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(data) == SMOKE_TASK_IDS
    for task, board in data.items():
        rows = {r["method"]: r for r in board["rows"]}
        assert rows["oracle"]["rank"] is None and rows["oracle"]["reference"]
        assert rows["oracle"]["normalized_score"] == pytest.approx(1.0)
        random_row = rows["random"]
        assert random_row["rank"] >= 1 and not random_row["reference"], task
        assert abs(random_row["normalized_score"]) < 0.25, task
        # random is at the floor: the floor lies within its CI, up to 0.05 normalised (a random edit retargets
        # the smoke agent now and then: 5/300 episodes against the unedited agent's 0, CI [0.003, 0.033])
        stored = json.loads((home / "results" / "smoke" / f"{random_row['result_id']}.json").read_text())
        floor, ceiling = stored["metrics"]["floor"], stored["metrics"]["ceiling"]
        low, high = ((random_row[k] - floor) / (ceiling - floor) for k in ("ci_low", "ci_high"))
        assert low <= 0.05 and high >= -0.05, (task, floor, random_row)

    proc = cli("leaderboard", "--format", "json", "--task", "smoke/goal-units-v1", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data) == ["smoke/goal-units-v1"]
    assert data["smoke/goal-units-v1"]["primary_metric"] == "auroc"
    methods = [r["method"] for r in data["smoke/goal-units-v1"]["rows"]]
    assert methods[-1] == "oracle" and set(methods) == {"oracle", "random"} | GOAL_UNITS_METHODS  # ranked, then ref
    for row in data["smoke/goal-units-v1"]["rows"]:
        assert JSON_FIELDS <= set(row)

    proc = cli("leaderboard", "--format", "md", "--task", "smoke/goal-units-v1", home=home)
    assert proc.returncode == 0 and proc.stdout.startswith("### smoke/goal-units-v1 (auroc)")
