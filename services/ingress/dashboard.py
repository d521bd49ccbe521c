"""The operators' dashboard: one HTML page and the JSON it is drawn from.

The numbers come over the bus from the same workers and queries as the admin API: spend,
traffic and feedback from the feedback service (`BuildDashboard`, whose
feedback part is the very function behind `/admin/feedback/summary`), overrides and runs from
the learner (`ReportLearningStatus`, `ListLearningRuns`). The page is rendered on the server; a
small script feeds the embedded JSON to the vendored Chart.js. No build step.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from schemas.messages import BuildDashboard, ListLearningRuns, ReportLearningStatus
from services.ingress.auth import require_admin
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.errors import ApiError
from services.ingress.state import IngressState
from services.ingress.strict_json import strict_router
from shared.messaging.topology import FEEDBACK_QUERIES, LEARNER_COMMANDS

_WEB = Path(__file__).parent / "web"

# The page waits for the slowest worker, so a learner that is down must not hold it for the
# full request timeout: its sections say so and the rest of the page still renders.
_LEARNER_TIMEOUT_S = 5.0

# The page shows what the admin API shows, so it sits behind the same admin scope (a browser
# sends the key as the password of HTTP Basic auth).
router = strict_router(dependencies=[Depends(require_admin)])
# Its stylesheet and scripts hold no data and are public: a browser does not always repeat the
# credentials of a page for its subresources (never those given in the URL, `http://x:KEY@host`),
# and a 401 there left the page unstyled and without charts.
assets = strict_router()


async def collect(state: IngressState, days: int) -> dict[str, Any]:
    """The dashboard's data. A worker that does not answer leaves its part None, with a reason."""
    reports, status, runs = await asyncio.gather(
        _ask(state, FEEDBACK_QUERIES, BuildDashboard(days=days), None),
        _ask(state, LEARNER_COMMANDS, ReportLearningStatus(), _LEARNER_TIMEOUT_S),
        _ask(state, LEARNER_COMMANDS, ListLearningRuns(), _LEARNER_TIMEOUT_S),
    )
    unavailable: dict[str, str] = {}
    if isinstance(reports, str):
        unavailable["reports"] = reports
    learning: dict[str, Any] | None = None
    if isinstance(status, dict) and isinstance(runs, dict):
        learning = {"status": status, "runs": runs.get("runs", [])}
    else:
        unavailable["learning"] = status if isinstance(status, str) else str(runs)
    baseline = state.catalog.baseline()
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "window_days": days,
        "baseline": {"model": baseline.id, "provider": baseline.provider},
        "reports": reports if isinstance(reports, dict) else None,
        "learning": learning,
        "unavailable": unavailable,
    }


async def _ask(
    state: IngressState, queue: str, command: BaseModel, timeout: float | None
) -> dict[str, Any] | str:
    """The reply's data, or a sentence saying why there is none."""
    if timeout is not None:
        timeout = min(timeout, state.settings.request_timeout_s)
    try:
        payload = await rpc_json(state, queue, command, timeout=timeout)
    except ApiError as exc:
        return f"{exc.kind}: {exc.message}"
    data: dict[str, Any] = payload.get("data", {})
    return data


@router.get("/admin/dashboard/data", tags=["admin"])
async def dashboard_data(
    request: Request, days: int = Query(default=30, ge=1, le=365)
) -> dict[str, Any]:
    """What `/dashboard` shows, as JSON: spend and savings per day, traffic and feedback per
    model and pattern, latency and error rates per provider, overrides and learning runs."""
    return await collect(ingress(request), days)


@router.get("/dashboard", response_class=HTMLResponse, tags=["admin"])
async def dashboard_page(
    request: Request, days: int = Query(default=30, ge=1, le=365)
) -> HTMLResponse:
    """The dashboard, rendered on the server from the same data as `/admin/dashboard/data`."""
    state = ingress(request)
    data = await collect(state, days)
    html = (
        _templates()
        .get_template("dashboard.html")
        .render(
            data=data,
            days=days,
            windows=(1, 7, 30, 90),
            base_url=str(request.base_url).rstrip("/"),
            auth_enabled=state.settings.auth_enabled,
        )
    )
    # The page is a snapshot of live numbers: never serve a stale copy from a cache.
    return HTMLResponse(html, headers={"cache-control": "no-store"})


@assets.get("/dashboard/static/{name:path}", include_in_schema=False)
async def dashboard_asset(name: str) -> FileResponse:
    # Only files shipped in the package, looked up by name: a path from the URL never reaches
    # the filesystem.
    path = _asset_files().get(name)
    if path is None:
        raise ApiError(404, "not_found", "no such dashboard file")
    return FileResponse(path, headers={"cache-control": "public, max-age=3600"})


@functools.cache
def _asset_files() -> dict[str, Path]:
    static = _WEB / "static"
    return {p.relative_to(static).as_posix(): p for p in static.rglob("*") if p.is_file()}


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_WEB / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(money=money, pct=pct, ms=ms, num=num, score=score, when=when)
    return env


def money(value: float | None) -> str:
    """Dollars with enough decimals that a cheap request still shows as more than $0.00."""
    if value is None:
        return "—"
    sign, amount = ("-" if value < 0 else ""), abs(value)
    if amount >= 1 or amount == 0:
        return f"{sign}${amount:,.2f}"
    if amount >= 0.01:
        return f"{sign}${amount:.4f}"
    return f"{sign}${amount:.6f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def num(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def when(value: str | None) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM UTC'."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
