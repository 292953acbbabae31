"""scripts/fuzz_routes.py in smoke mode: hostile requests on every route, no 5xx (issue 17)."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))

import fuzz_routes  # noqa: E402


def test_three_hundred_hostile_requests_on_every_route_give_no_server_error():
    result = fuzz_routes.run(300, seed=1)
    assert result["requests"] == 300 and result["routes"] >= 20
    assert result["server_errors"] == 0, result["first_server_errors"]
    assert result["statuses"].get("4xx", 0) > 0 and result["statuses"].get("2xx", 0) > 0


def test_the_fuzzer_reports_a_route_that_fails():
    def broken_route(app):
        @app.get("/api/v1/broken")
        def broken():
            raise OverflowError("Python int too large to convert to SQLite INTEGER")

    result = fuzz_routes.run(200, seed=2, prepare=broken_route)
    assert result["server_errors"] > 0
    assert any(
        f["url"].startswith("/api/v1/broken") and f["status"] == 500
        for f in result["first_server_errors"]
    )
