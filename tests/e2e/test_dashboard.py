"""The operators' dashboard in headless Chromium, after real traffic and feedback.

The numbers on the page are read back as a person would see them (tiles, tables, charts) and
compared with SQL on the same database. Screenshots land in test-output/ at the repo root.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.runner import build_worker
from shared.routing.catalog import load_catalog
from tests.conftest import free_port, isolated_settings
from tests.e2e.browser import browser_page, output_path
from tests.integration.test_request_path import wait_for_rows
from tests.system import RunningSystem, start_system

WINDOW = timedelta(days=30)
PLAN = [  # prompt, forced model (None: the router decides), score, correct
    ("Write a Python function that checks whether a string is a palindrome.", None, 5, True),
    ("What is 17 times 23?", None, 4, True),
    ("Translate 'good evening' into Spanish.", "simulated-fast", 5, True),
    ("Translate 'good night' into French.", "simulated-fast", 2, False),
    ("Summarise the causes of the French revolution.", "simulated-balanced", None, None),
    ("Tell me a short joke about databases.", None, None, None),
]


async def send_traffic(client, plan=PLAN) -> list[str]:
    """Route every prompt of `plan` and rate those that have a score; returns request ids."""
    ids = []
    for prompt, model, score, correct in plan:
        body: dict = {"prompt": prompt, "max_tokens": 60}
        if model:
            body["constraints"] = {"model": model}
        routed = await client.post("/v1/route", json=body)
        assert routed.status_code == 200, routed.text
        ids.append(routed.json()["request_id"])
        if score is not None:
            rated = await client.post("/production/feedback", json={
                "request_id": ids[-1], "quality_score": score, "is_correct": correct})
            assert rated.status_code == 200, rated.text
    return ids


@pytest.fixture(scope="module")
async def learner(system: RunningSystem):
    """The learner answers the dashboard's status and runs commands (started here if the
    module's system runs without one)."""
    if any(w.name == "learner" for w in system.workers):
        yield
        return
    worker = build_worker("learner", system.settings, load_catalog())
    await worker.start()
    yield
    await worker.stop()


@pytest.fixture(scope="module")
async def traffic(system: RunningSystem, learner) -> list[str]:
    async with system.client() as client:
        ids = await send_traffic(client)
    pool = await asyncpg.create_pool(system.settings.database_url, min_size=1, max_size=1)
    try:
        await wait_for_rows(
            pool, "SELECT count(*) FROM production_feedback WHERE request_id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in ids], expected=4)
    finally:
        await pool.close()
    return ids


def amount(text: str) -> tuple[float, float]:
    """'$0.001234' -> (0.001234, half of its last shown digit)."""
    digits = text.strip().replace("$", "").replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return float(digits), 0.5 * 10 ** -decimals


async def tile(page, element_id: str) -> str:
    return (await page.locator(f"#{element_id}").inner_text()).strip()


async def chart_sums(page, canvas_id: str) -> dict[str, float]:
    return await page.evaluate(
        """id => Object.fromEntries(Chart.getChart(id).data.datasets.map(
               d => [d.label, d.data.reduce((a, b) => a + (b || 0), 0)]))""", canvas_id)


async def painted(page, canvas_id: str) -> bool:
    """True when the canvas holds more than a blank canvas of its size."""
    return await page.evaluate(
        """id => { const c = document.getElementById(id); const blank = document.createElement(
               'canvas'); blank.width = c.width; blank.height = c.height;
               return c.toDataURL() !== blank.toDataURL(); }""", canvas_id)


async def open_dashboard(page, base_url: str, days: int = 30) -> None:
    response = await page.goto(f"{base_url}/dashboard?days={days}")
    assert response is not None and response.status == 200
    await page.wait_for_selector("body[data-charts-ready='true']", timeout=15_000)


def saved(page_path, capsys) -> None:
    with capsys.disabled():
        print(f"\n[dashboard screenshot] {page_path}")


async def test_dashboard_totals_and_charts_match_the_database(
    system: RunningSystem, traffic: list[str], db: asyncpg.Pool, tmp_path, capsys
) -> None:
    async with system.client() as client:
        data = (await client.get("/admin/dashboard/data", params={"days": 30})).json()
        summary = (await client.get("/admin/feedback/summary", params={"days": 30})).json()
    assert data["unavailable"] == {}
    assert data["reports"]["feedback"] == summary, "one source of truth for feedback numbers"

    totals = await db.fetchrow(
        """SELECT count(*) AS n, sum(cost_usd)::float8 AS cost,
                  sum(baseline_cost_usd)::float8 AS baseline, sum(savings_usd)::float8 AS saved
           FROM routing_requests WHERE created_at > now() - $1::interval""", WINDOW)
    per_model = {
        r["name"]: r["n"] for r in await db.fetch(
            """SELECT coalesce(model, 'no model answered') AS name, count(*) AS n
               FROM routing_requests WHERE created_at > now() - $1::interval GROUP BY 1""",
            WINDOW)
    }
    rated = await db.fetchrow(
        """SELECT count(*) AS n, avg(quality_score)::float8 AS avg FROM production_feedback
           WHERE created_at > now() - $1::interval""", WINDOW)

    async with browser_page(tmp_path / "profile") as page:
        await open_dashboard(page, system.base_url)

        assert int((await tile(page, "total-requests")).replace(",", "")) == totals["n"]
        for element_id, expected in (
            ("total-cost", totals["cost"]),
            ("total-baseline", totals["baseline"]),
            ("total-savings", totals["saved"]),
        ):
            shown, tolerance = amount(await tile(page, element_id))
            assert abs(shown - expected) <= tolerance, (element_id, shown, expected)
        assert totals["cost"] < totals["baseline"], "the simulated traffic should save money"

        spend = await chart_sums(page, "spend-chart")
        assert spend["actual cost"] == pytest.approx(totals["cost"], rel=1e-9)
        baseline_label = next(label for label in spend if label.startswith("baseline"))
        assert spend[baseline_label] == pytest.approx(totals["baseline"], rel=1e-9)

        model_chart = await page.evaluate(
            """() => { const c = Chart.getChart('model-chart');
                       return Object.fromEntries(c.data.labels.map(
                           (label, i) => [label, c.data.datasets[1].data[i]])); }""")
        assert model_chart == per_model
        assert await page.locator("#model-table tbody tr").count() == len(per_model)

        latency = await chart_sums(page, "latency-chart")
        assert set(latency) == {"p50", "p95", "p99"}
        for canvas_id in ("spend-chart", "model-chart", "latency-chart"):
            assert await painted(page, canvas_id), f"{canvas_id} drew nothing"

        assert int(await tile(page, "feedback-total")) == rated["n"]
        assert float(await tile(page, "feedback-avg")) == pytest.approx(rated["avg"], abs=0.005)
        assert await page.locator("[data-unavailable]").count() == 0
        assert await page.locator("#learning").is_visible()

        shot = output_path("dashboard.png")
        await page.screenshot(path=str(shot), full_page=True)
        saved(shot, capsys)


async def test_retrain_preview_shows_the_diff_and_writes_nothing(
    system: RunningSystem, traffic: list[str], db: asyncpg.Pool, tmp_path, capsys
) -> None:
    runs_before = await db.fetchval("SELECT count(*) FROM learning_runs")
    overrides_before = await db.fetchval("SELECT count(*) FROM learning_overrides")
    async with browser_page(tmp_path / "profile") as page:
        await open_dashboard(page, system.base_url)
        await page.fill("input[name=min_samples]", "1")
        await page.fill("input[name=confidence_threshold]", "0.05")
        await page.click("#retrain-dry-run")
        summary = page.locator("#retrain-summary")
        await summary.wait_for(timeout=15_000)
        text = await summary.inner_text()
        assert text.startswith("Dry run against version") and "Nothing was written" in text
        # Four ratings with a 1-sample minimum and a low bar: at least one pattern qualifies.
        assert await page.locator("#retrain-diff tbody tr").count() >= 1
        assert "Evidence" in await page.locator("#retrain-result details summary").inner_text()
        shot = output_path("dashboard-retrain-preview.png")
        await page.locator("#learning").screenshot(path=str(shot))
        saved(shot, capsys)
    assert await db.fetchval("SELECT count(*) FROM learning_runs") == runs_before
    assert await db.fetchval("SELECT count(*) FROM learning_overrides") == overrides_before


@pytest.fixture
async def fresh_system(service_urls):
    """A new install: a database and an AMQP namespace of its own, every worker running."""
    async with isolated_settings(service_urls, "dash" + uuid.uuid4().hex[:6]) as settings:
        running = await start_system(settings, free_port())
        yield running
        await running.stop()


async def test_new_install_explains_empty_states_then_shows_learned_overrides(
    fresh_system: RunningSystem, tmp_path, capsys
) -> None:
    async with browser_page(tmp_path / "profile") as page:
        await open_dashboard(page, fresh_system.base_url)
        hint = await page.locator("#empty-requests").inner_text()
        assert "No requests yet" in hint and "curl" in hint and "/v1/route" in hint
        assert "No feedback yet" in await page.locator("#empty-feedback").inner_text()
        assert "No overrides learned yet" in await page.locator("#empty-overrides").inner_text()
        assert await page.locator("#empty-runs").count() == 1
        assert await page.locator("canvas").count() == 0
        shot = output_path("dashboard-empty.png")
        await page.screenshot(path=str(shot), full_page=True)
        saved(shot, capsys)

        async with fresh_system.client() as client:
            await send_traffic(client)
            applied = await client.post("/admin/learning/retrain", params={
                "dry_run": "false", "min_samples": 1, "confidence_threshold": 0.05})
            assert applied.status_code == 200 and applied.json()["status"] == "applied"
        pool = await asyncpg.create_pool(fresh_system.settings.database_url, min_size=1, max_size=1)
        try:
            active = await pool.fetch(
                "SELECT pattern, sample_count FROM learning_overrides WHERE is_active")
        finally:
            await pool.close()
        await open_dashboard(page, fresh_system.base_url)
        rows = page.locator("#override-table tbody tr")
        assert await rows.count() == len(active) >= 1
        first = await rows.first.locator("td").all_inner_texts()
        expected = {r["pattern"]: r["sample_count"] for r in active}
        assert int(first[5]) == expected[first[0]], "samples shown are the stored evidence"
        assert await page.locator("#run-table tbody tr").count() == 1
