"""`mirl leaderboard --format html`: one self-contained page with the overall table, per-task tables, bar
charts with CIs, compute-vs-score scatters with their Pareto front, task cards and method cards; rendered in
headless Chromium (Debian's `chromium`, which .ci/run installs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from mirl.leaderboards.html import overall_table, pareto_front
from mirl.leaderboards.stats import Row
from mirl.schemas import superseded


class Census(HTMLParser):
    """Counts tags and their classes, and collects the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name == "class":
                self.classes[value] = self.classes.get(value, 0) + 1

    def handle_data(self, data):
        self.text.append(data)


def census(page: str) -> Census:
    parser = Census()
    parser.feed(page)
    return parser


def test_pareto_front_keeps_the_points_no_cheaper_point_beats():
    points = [(1.0, 0.2, "a"), (2.0, 0.1, "b"), (3.0, 0.5, "c"), (10.0, 0.5, "d"), (20.0, 0.9, "e")]
    assert [name for _, _, name in pareto_front(points)] == ["a", "c", "e"]


def _row(method: str, normalized: float) -> Row:
    return Row(rank=1, tied=False, method=method, method_version="1", status="ok", score=normalized, ci_low=0.0,
               ci_high=1.0, normalized_score=normalized, n=10, seed=0, runs=1, env_steps=0, forward_passes=0,
               wall_seconds=0.0, date="2026-11-26", error=None, result_id="r")


def test_the_overall_mean_counts_a_task_once_at_its_latest_version():
    assert superseded(["x/a-v1", "x/a-v2", "x/b-v1", "x/a-v10", "loose"]) == {"x/a-v1": "x/a-v10", "x/a-v2": "x/a-v10"}
    boards = {"x/a-v1": [_row("m", 0.9)], "x/a-v2": [_row("m", 0.1)], "x/b-v1": [_row("m", 0.5)]}
    table = overall_table(boards)
    assert "<b>0.30</b>" in table  # (0.1 + 0.5) / 2: v1's 0.9 is shown but not averaged
    assert "x/a-v1 (superseded)" in table and "<td>0.90</td>" in table and "x/a-v2 (superseded)" not in table


@pytest.fixture
def page(home, make_result, run_cli, tmp_path):
    from mirl.leaderboards.store import ResultStore

    store = ResultStore(home)
    for task, metric in (("smoke/goal-readout-v1", "accuracy"), ("smoke/goal-units-v1", "auroc")):
        for method, score, seconds in (("random", 0.1, 0.01), ("linear-probe", 0.9, 2.0), ("oracle", 1.0, 0.1)):
            store.add(make_result(task_id=task, primary_metric=metric, method=method, score=score,
                                  ci=(score - 0.05, min(score + 0.05, 1.0)), normalized_score=score,
                                  compute={"wall_seconds": seconds}))
    store.add(make_result(task_id="smoke/goal-units-v1", method="sparse-probe", status="failed"))
    out = tmp_path / "board.html"
    proc = run_cli("leaderboard", "--format", "html", "--out", str(out), home=home)
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_page_holds_tables_charts_and_cards(page):
    text = page.read_text()
    found = census(text)
    assert found.classes.get("overall") == 1 and found.classes.get("task") >= 2  # overall + two task tables
    assert found.classes.get("bars") == 2 and found.classes.get("scatter") == 2 and found.classes.get("pareto") == 2
    assert found.classes.get("ci") == 6  # one whisker per scored method and task
    assert found.classes.get("failed") == 1
    words = " ".join(found.text)
    assert "Which goal cell is the agent heading for?" in words  # the task card's question
    assert "linear-probe v1" in words and "Alain & Bengio" in words  # a method card
    assert "<script" not in text and "http" not in text.split("</style>")[0]  # self-contained


def test_chromium_renders_the_page(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("MIRL_CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    rendered = census(dom.stdout)
    assert rendered.tags.get("table", 0) >= 3 and rendered.tags.get("svg", 0) == 4
    assert rendered.tags.get("rect", 0) == 6 and rendered.tags.get("circle", 0) == 6
    shot = tmp_path / "board.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000  # a real picture, not a blank page
