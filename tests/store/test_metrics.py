"""Prometheus metrics: the series an operator needs, one registry per app."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cds.api.access_log import RequestObserverMiddleware
from cds.metrics import Metrics
from tests.store.records import audit, card, overridden


def test_the_exposition_shows_calls_cards_feedback_and_audit_writes(store):
    shown = card("R02", "warning")
    store.record(audit([shown], service="pv"))
    store.flush()
    store.record_feedback("pv", [overridden(shown.uuid)])
    store.metrics.set_rule_pack("stress-pain", "1.2.0")

    text = store.metrics.render().decode()
    assert 'cds_hook_latency_seconds_count{service="pv"} 1.0' in text
    assert 'cds_hook_calls_total{service="pv",status="200"} 1.0' in text
    assert 'cds_cards_total{indicator="warning",rule="R02"} 1.0' in text
    assert 'cds_feedback_total{outcome="overridden",rule="R02"} 1.0' in text
    assert 'cds_audit_writes_total{result="ok"} 1.0' in text
    assert 'cds_audit_writes_total{result="dropped"} 0.0' in text
    assert "cds_audit_queue_depth 0.0" in text
    assert 'cds_rule_pack_info{name="stress-pain",version="1.2.0"} 1.0' in text


def test_two_apps_in_one_process_keep_separate_metrics():
    first, second = Metrics(), Metrics()
    first.observe_error("unauthorized")
    assert first.registry.get_sample_value("cds_auth_failures_total") == 1
    assert second.registry.get_sample_value("cds_auth_failures_total") == 0


async def test_error_responses_are_counted_by_reason_and_auth_failures_apart():
    metrics = Metrics()

    async def refused(request: Request) -> JSONResponse:
        request.state.error_reason = "unauthorized"
        return JSONResponse({"error": "unauthorized"}, 401)

    async def fine(_request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(routes=[Route("/refused", refused), Route("/fine", fine)])
    transport = httpx.ASGITransport(app=RequestObserverMiddleware(app, metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/refused")
        await client.get("/fine")
        await client.get("/missing")

    sample = metrics.registry.get_sample_value
    assert sample("cds_errors_total", {"kind": "unauthorized"}) == 1
    assert sample("cds_errors_total", {"kind": "http-404"}) == 1
    assert sample("cds_auth_failures_total") == 1
