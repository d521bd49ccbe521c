"""Summary and status numbers against values computed by hand, in a namespace of their own."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import free_port, isolated_settings
from tests.system import RunningSystem, start_system


@pytest.fixture(scope="module")
async def quiet_system(service_urls):
    async with isolated_settings(service_urls, "rep" + uuid.uuid4().hex[:6]) as settings:
        running = await start_system(settings, free_port())
        yield running
        await running.stop()


async def test_summary_and_status_match_hand_computed_values(quiet_system: RunningSystem) -> None:
    # Four requests forced onto known models; two patterns.
    plan = [
        ("Translate 'good morning' into French.", "simulated-fast", 5, True),
        ("Translate 'thank you' into German.", "simulated-fast", 4, True),
        ("Translate 'see you soon' into Italian.", "simulated-balanced", 2, False),
        ("What is the capital of Australia?", "simulated-balanced", 1, False),
    ]
    async with quiet_system.client() as client:
        empty = (await client.get("/admin/feedback/summary")).json()
        assert empty["total_feedback"] == 0 and empty["avg_quality_score"] is None
        answers = []
        for prompt, model, score, correct in plan:
            routed = await client.post(
                "/v1/route", json={"prompt": prompt, "constraints": {"model": model}}
            )
            assert routed.status_code == 200, routed.text
            answers.append(routed.json())
            fb = await client.post(
                "/production/feedback",
                json={
                    "request_id": routed.json()["request_id"],
                    "quality_score": score,
                    "is_correct": correct,
                },
            )
            assert fb.status_code == 200, fb.text
        patterns = [a["pattern"] for a in answers]
        assert patterns[:3] == ["translation"] * 3
        assert patterns[3] == "factual"

        summary = (await client.get("/admin/feedback/summary")).json()
        assert summary["total_feedback"] == 4
        assert summary["avg_quality_score"] == pytest.approx((5 + 4 + 2 + 1) / 4)
        by_model = {m["name"]: m for m in summary["by_model"]}
        assert by_model["simulated-fast"]["count"] == 2
        assert by_model["simulated-fast"]["avg_quality_score"] == pytest.approx(4.5)
        assert by_model["simulated-balanced"]["count"] == 2
        assert by_model["simulated-balanced"]["avg_quality_score"] == pytest.approx(1.5)
        by_pattern = {p["name"]: p for p in summary["by_query_pattern"]}
        assert by_pattern["translation"]["count"] == 3
        assert by_pattern["translation"]["avg_quality_score"] == pytest.approx(11 / 3, abs=1e-4)
        assert by_pattern["factual"]["count"] == 1

        # translation/simulated-fast: 2 of 2 good. Wilson lower bound (z=1.96) of 2/2 is 0.3424;
        # with threshold 0.3 and min_samples 2 it is the one override.
        applied = (
            await client.post(
                "/admin/learning/retrain",
                params={"dry_run": "false", "min_samples": 2, "confidence_threshold": 0.3},
            )
        ).json()
        assert applied["status"] == "applied", applied
        assert [(o["pattern"], o["model"]) for o in applied["diff"]["added"]] == [
            ("translation", "simulated-fast")
        ]

        status = (await client.get("/admin/learning/status")).json()
        assert status["total_overrides"] == 1
        assert status["confidence_distribution"] == {"high": 0, "medium": 0, "low": 1}
        assert status["last_retrain"]["status"] == "applied"
        assert status["next_scheduled_run"] is not None
        # 3 of the 4 requests of the last 24 hours are translations, which now have an override.
        assert status["recommendation_coverage"] == pytest.approx(0.75)
