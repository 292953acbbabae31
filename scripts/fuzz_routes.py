"""Hostile requests against every route and method, in turn: hypothesis generates who asks
(anonymous, or each role by login session and by API token), the URL variables, query
parameters, form fields and JSON bodies (huge and negative integers, control characters, path
tricks, long and deeply nested values, wrong types). No answer may be a 5xx.

Usage:
  python scripts/fuzz_routes.py [--requests 10000] [--seed 1] [--smoke]

The routes come from the application's own URL map, so a route added later is fuzzed without
editing this script; they take turns (each gets the same share of the requests). Prints one JSON
object: requests, answers per status class, 5xx count with the first few requests that caused
one, and the routes covered.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import seed as hseed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

PASSWORD = "correct horse battery staple"
USERS = (("sato", "support"), ("kato", "engineer"), ("mori", "admin"))
PARAMS = (
    "q",
    "sid",
    "limit",
    "offset",
    "product",
    "component",
    "status",
    "tag",
    "version",
    "from",
    "to",
    "days",
    "rank",
    "next",
    "search_id",
    "verdict",
    "case_id",
    "name",
    "password",
    "title",
    "lang",
    "content_lang",
    "heading_lang",
    "relate",
    "base_hash",
    "extra_sections",
    "action",
    "actor",
    "ended",
    "visibility",
    "role",
)
CASE_IDS = ("ESC-2026-0001", "ESC-2026-0004", "ESC-2026-0005", "ESC-2099-9999")

_big = st.sampled_from(
    ["9223372036854775808", "-9223372036854775809", "1" * 400, "1e309", "NaN", "-0", "0x10", "٣"]
)
_hostile = st.sampled_from(
    [
        "/\t/evil.example/",
        "//evil.example",
        "/\\evil",
        "https://evil.example",
        "../../etc/passwd",
        "%00",
        "\x00",
        "a\nb",
        "\r\nSet-Cookie: x=1",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "ESC-2026-0005",
        "gen-000001",
        "🙂" * 50,
        "x" * 5000,
        "",
        " ",
    ]
)
VALUE = st.one_of(
    st.text(max_size=60), st.integers(min_value=-(2**70), max_value=2**70).map(str), _big, _hostile
)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(PARAMS + ("fields", "sections")), inner, max_size=4)
    ),
    max_leaves=12,
)
BODY = st.one_of(
    st.none(),
    JSON_VALUE.map(json.dumps),
    st.sampled_from(
        [
            _nested(50_000),
            '{"a":' * 20_000 + "1" + "}" * 20_000,
            "{",
            "null",
            '"x"',
            "[]",
            '{"verdict": "solved", "search_id": 9223372036854775808}',
        ]
    ),
)


def make_world(root: Path) -> tuple[Any, dict[str, str]]:
    """A small knowledge base with the three roles' users and tokens; returns (app, tokens)."""
    from worlds import WEB_WORLD as WORLD

    from indexer.jobs import run_index
    from kb import accounts
    from kb.migrate import open_store
    from kb.settings import load_settings
    from webui import create_app

    (root / "cases").mkdir(parents=True)
    for name, text in WORLD.items():
        (root / "cases" / name).write_text(text, "utf-8")
    settings = load_settings(
        environ={},
        cases_dir=root / "cases",
        data_dir=root / "data",
        embed_model="hash:256",
        cookie_secure=False,
    )
    run_index(settings)
    store = open_store(settings)
    tokens = {}
    for name, role in USERS:
        accounts.add_user(store, name, role, PASSWORD)
        tokens[role] = accounts.create_token(store, name, "fuzz")
    store.close()
    return create_app(settings, test_config={"WTF_CSRF_ENABLED": False}), tokens


def routes(app: Any) -> list[tuple[str, str]]:
    """(rule, method) for every route but the static files."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def fill(rule: str, values: list[str]) -> str:
    """The rule with each ``<var>`` replaced by the next value (URL-quoted)."""
    from urllib.parse import quote

    parts = iter(values)
    return re.sub(r"<(?:[a-z]+:)?[a-z_]+>", lambda _m: quote(next(parts, "x"), safe=""), rule)


def run(requests: int, seed: int, prepare: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Fuzz a fresh world's app (``prepare`` may change the app first: the tests add a broken route)."""
    with tempfile.TemporaryDirectory(prefix="kb-fuzz-") as tmp:
        app, tokens = make_world(Path(tmp))
        if prepare is not None:
            prepare(app)
        table = routes(app)
        clients: dict[str, Any] = {"anonymous": app.test_client()}
        for name, role in USERS:
            client = app.test_client()
            client.post("/login", data={"name": name, "password": PASSWORD})
            clients[f"session:{role}"] = client
        who = sorted(clients) + [f"token:{r}" for _, r in USERS]
        statuses: Counter[str] = Counter()
        failures: list[dict[str, Any]] = []
        covered: Counter[str] = Counter()

        @given(
            caller=st.sampled_from(who),
            path_values=st.lists(
                st.one_of(st.sampled_from(CASE_IDS), VALUE), min_size=2, max_size=2
            ),
            args=st.dictionaries(st.sampled_from(PARAMS) | st.text(max_size=8), VALUE, max_size=5),
            form=st.dictionaries(st.sampled_from(PARAMS), VALUE, max_size=6),
            body=BODY,
            as_json=st.booleans(),
        )
        @hseed(seed)
        @hsettings(
            max_examples=requests,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def one(
            caller: str,
            path_values: list[str],
            args: dict[str, str],
            form: dict[str, str],
            body: str | None,
            as_json: bool,
        ) -> None:
            rule, method = table[
                sum(covered.values()) % len(table)
            ]  # every route in turn, the rest drawn
            if rule == "/logout" and caller.startswith("session:"):
                caller = "anonymous"  # keep the signed-in clients signed in
            client = clients["anonymous"] if caller.startswith("token:") else clients[caller]
            headers = (
                {"Authorization": f"Bearer {tokens[caller.split(':')[1]]}"}
                if caller.startswith("token:")
                else {}
            )
            url = fill(rule, path_values)
            kwargs: dict[str, Any] = {"query_string": args, "headers": headers}
            if method == "POST":
                if as_json and body is not None:
                    kwargs.update(data=body, content_type="application/json")
                else:
                    kwargs["data"] = form
            try:
                response = client.open(url, method=method, **kwargs)
                status = response.status_code
            except Exception as exc:  # noqa: BLE001 - an exception out of the app is a failure too
                status = 599
                form = {**form, "_exception": f"{type(exc).__name__}: {exc}"[:300]}
            covered[f"{method} {rule}"] += 1
            statuses[f"{status // 100}xx"] += 1
            if status >= 500 and len(failures) < 10:
                failures.append(
                    {
                        "method": method,
                        "url": url[:300],
                        "caller": caller,
                        "args": {k: v[:100] for k, v in args.items()},
                        "form": {k: v[:100] for k, v in form.items()},
                        "body": (body or "")[:200],
                        "status": status,
                    }
                )

        one()
        uncovered = [f"{m} {r}" for r, m in table if f"{m} {r}" not in covered]
        return {
            "requests": sum(statuses.values()),
            "statuses": dict(sorted(statuses.items())),
            "server_errors": sum(n for k, n in statuses.items() if k == "5xx"),
            "first_server_errors": failures,
            "routes": len(table),
            "routes_not_reached": uncovered,
            "seed": seed,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="300 requests")
    args = parser.parse_args()
    result = run(300 if args.smoke else args.requests, args.seed)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    sys.exit(1 if result["server_errors"] else 0)


if __name__ == "__main__":
    main()
