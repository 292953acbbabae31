"""kb watch end to end: a store with logged searches, a real webhook receiver and a real SMTP server
on 127.0.0.1, the once-per-burst rule, new problems, retries and the CLI."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner
from conftest import REPO

from kb.activity import Feedback, SearchLog
from kb.alert_state import WatchAlert
from kb.case import Case
from kb.cli import main
from kb.migrate import open_store
from kb.subjects import LogSignature, SearchSubject
from kb.watch import run_watch

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Webhook:
    """An incoming-webhook stand-in: records each JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.bodies.append(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                )
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """A real SMTP server (aiosmtpd) keeping the messages it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.close()


@pytest.fixture
def store(settings):
    s = open_store(settings)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


def _alerting(settings, webhook, mailbox, **more):
    return settings.replace(
        alert_webhook_url=webhook.url,
        alert_smtp_host="127.0.0.1",
        alert_smtp_port=mailbox.port,
        alert_smtp_security="none",
        alert_email_from="kb@example.test",
        alert_email_to="esc@example.test, oncall@example.test",
        alert_base_url="https://kb.example.test/",
        alert_retry_backoff_seconds=0.01,
        **more,
    )


def log_searches(
    store,
    subject,
    times,
    kind="code",
    top_case=None,
    result_count=None,
    verdict=None,
    role="support",
):
    """Log one search per time naming ``subject``; returns their ids."""
    ids = []
    with store.session() as session:
        for t in times:
            row = SearchLog(
                text="(scrubbed)", role=role, result_count=0, latency_ms=1.0, created_at=t
            )
            session.add(row)
            session.flush()
            count = (1 if top_case else 0) if result_count is None else result_count
            session.add(
                SearchSubject(
                    search_id=row.id,
                    created_at=t,
                    subject_type=kind,
                    subject=subject,
                    role=role,
                    lang="en",
                    product="",
                    component="",
                    result_count=count,
                    top_case=top_case,
                )
            )
            if verdict:
                session.add(Feedback(search_id=row.id, verdict=verdict, role=role, created_at=t))
            ids.append(row.id)
    return ids


def add_case(store, case_id, title, visibility):
    case = Case(
        id=case_id,
        title=title,
        status="resolved",
        product="p",
        component="c",
        visibility=visibility,
        created=NOW.date(),
        sections=(),
        path=f"{case_id}.md",
    )
    with store.session() as session:
        store.upsert_cases(session, [case])


def one_a_day(days=14):
    return [NOW - timedelta(days=d, hours=5) for d in range(1, days + 1)]


def burst(n, minutes=30, end=NOW):
    return [
        end - timedelta(minutes=minutes) + timedelta(seconds=(i + 0.5) * minutes * 60 / n)
        for i in range(n)
    ]


def test_a_burst_of_ten_over_one_a_day_alerts_once_through_every_channel(
    settings, store, webhook, mailbox
):
    settings = _alerting(settings, webhook, mailbox)
    add_case(store, "ESC-2024-0001", "Mail relay rejects large attachments", "support")
    log_searches(store, "SMTP-552", one_a_day(), top_case="ESC-2024-0001")
    log_searches(store, "SMTP-552", burst(10), top_case="ESC-2024-0001")

    report = run_watch(settings, store, now=NOW)
    assert [(b.subject, b.count) for b in report.bursts] == [("SMTP-552", 10)]
    assert len(report.alerted) == 1 and report.undelivered == {}
    [body] = webhook.bodies
    assert list(body) == ["text"]  # the shape Slack and Teams incoming webhooks both take
    text = body["text"]
    assert "error code SMTP-552 searched 10× in 30 min" in text
    assert "ESC-2024-0001 Mail relay rejects large attachments" in text
    assert "https://kb.example.test/trends" in text and "NEW PROBLEM" not in text
    [(rcpts, mail)] = mailbox.messages
    assert rcpts == ["esc@example.test", "oncall@example.test"]
    assert (
        mail["Subject"].startswith("[KB] Burst: error code SMTP-552")
        and "SMTP-552" in mail.get_payload()
    )

    # the next runs (every 5 minutes) see the same burst: no second alert
    for minutes in (5, 10):
        again = run_watch(settings, store, now=NOW + timedelta(minutes=minutes))
        assert again.alerted == [] and again.continuing == report.alerted
    assert len(webhook.bodies) == 1 and len(mailbox.messages) == 1


def test_a_burst_alerts_again_only_after_it_has_ended(settings, store, webhook, mailbox):
    settings = _alerting(settings, webhook, mailbox)
    log_searches(store, "E-77", one_a_day())
    log_searches(store, "E-77", burst(8))
    first = run_watch(settings, store, now=NOW)
    assert len(first.alerted) == 1
    # 20 minutes on, the window holds too few of them: the rule no longer holds, but the quiet period runs
    quiet = run_watch(settings, store, now=NOW + timedelta(minutes=20))
    assert quiet.bursts == [] and quiet.ended == [] and quiet.continuing == first.alerted
    ended = run_watch(settings, store, now=NOW + timedelta(minutes=31))
    assert ended.ended == first.alerted
    log_searches(store, "E-77", burst(8, end=NOW + timedelta(hours=3)))
    second = run_watch(settings, store, now=NOW + timedelta(hours=3))
    assert len(second.alerted) == 1 and second.alerted != first.alerted
    assert len(webhook.bodies) == 2
    with store.session() as session:
        rows = session.query(WatchAlert).order_by(WatchAlert.id).all()
        assert [r.ended_at is None for r in rows] == [False, True]


def test_steady_traffic_with_a_busy_hour_does_not_alert(settings, store, webhook, mailbox):
    settings = _alerting(settings, webhook, mailbox)
    times = []
    for day in range(
        0, 15
    ):  # 4 searches an hour at night, 30 an hour from 9 to 17, every day, today included
        for hour in range(24):
            per_hour = 30 if 9 <= hour < 17 else 4
            start = NOW.replace(hour=0) - timedelta(days=day) + timedelta(hours=hour)
            times += [start + timedelta(minutes=60 * (i + 0.5) / per_hour) for i in range(per_hour)]
    log_searches(store, "HTTP-503", [t for t in times if t < NOW], top_case=None, result_count=3)
    for minutes in range(0, 60, 5):
        assert run_watch(settings, store, now=NOW + timedelta(minutes=minutes)).bursts == []
    assert webhook.bodies == [] and mailbox.messages == []


def test_a_signature_matching_no_case_is_a_new_problem_named_by_its_template(
    settings, store, webhook, mailbox
):
    settings = _alerting(settings, webhook, mailbox)
    sig = "l0123456789abcdef"
    with store.session() as session:
        session.add(
            LogSignature(
                signature_id=sig,
                template="ERROR pool <*> exhausted after <NUM> ms",
                first_seen=NOW - timedelta(minutes=20),
                last_seen=NOW,
            )
        )
    log_searches(store, sig, burst(6, minutes=20), kind="signature")
    run_watch(settings, store, now=NOW)
    text = webhook.bodies[0]["text"]
    assert "NEW PROBLEM: log signature ERROR pool <*> exhausted after <NUM> ms searched 6×" in text
    assert "match no case the support role can open" in text
    assert "Top matching case: none" in text
    assert f"https://kb.example.test/signatures/{sig}" in text


def test_searches_ending_escalated_make_a_new_problem(settings, store, webhook, mailbox):
    settings = _alerting(settings, webhook, mailbox)
    add_case(store, "ESC-2024-0002", "Login loops after SSO change", "support")
    log_searches(store, "AUTH-401", burst(4), top_case="ESC-2024-0002", verdict="escalated")
    log_searches(store, "AUTH-401", burst(4), top_case="ESC-2024-0002")
    run_watch(settings, store, now=NOW)
    text = webhook.bodies[0]["text"]
    assert "NEW PROBLEM" in text and "4 of its 8 searches ended escalated" in text
    assert "ESC-2024-0002 Login loops after SSO change" in text


def test_the_alert_names_only_a_case_support_may_see(settings, store, webhook, mailbox):
    settings = _alerting(settings, webhook, mailbox)
    add_case(store, "ESC-2024-0009", "Secret internal outage", "engineering")
    add_case(store, "ESC-2024-0003", "Public workaround", "support")
    log_searches(store, "DB-1205", burst(6), top_case="ESC-2024-0009")
    log_searches(store, "DB-1205", burst(2), top_case="ESC-2024-0003")
    log_searches(store, "DB-1206", burst(5), top_case="ESC-2024-0009")
    run_watch(settings, store, now=NOW)
    texts = {b["text"].split("\n")[0]: b["text"] for b in webhook.bodies}
    assert len(texts) == 2
    everything = json.dumps(webhook.bodies) + "".join(m.get_payload() for _, m in mailbox.messages)
    assert "ESC-2024-0009" not in everything and "Secret internal outage" not in everything
    [with_case] = [t for t in texts.values() if "DB-1205" in t]
    assert "Top matching case: ESC-2024-0003 Public workaround" in with_case
    [without] = [t for t in texts.values() if "DB-1206" in t]
    assert "Top matching case: none" in without and "NEW PROBLEM" in without


def test_a_failed_delivery_is_retried_logged_and_delivered_on_the_next_run(
    settings, store, webhook, mailbox, caplog
):
    closed = f"http://127.0.0.1:{_free_port()}/hook"  # nothing listens there
    broken = _alerting(settings, webhook, mailbox).replace(
        alert_webhook_url=closed, alert_retries=3
    )
    log_searches(store, "E-500", burst(7))
    waits: list[float] = []
    with caplog.at_level(logging.WARNING, logger="kb.alerts"):
        report = run_watch(broken, store, now=NOW, sleep=waits.append)  # must not raise
    assert list(report.undelivered) == report.alerted and list(
        report.undelivered[report.alerted[0]]
    ) == ["webhook"]
    assert waits == [0.01, 0.02]  # three attempts, doubling backoff
    attempts = [r for r in caplog.records if "webhook delivery attempt" in r.getMessage()]
    assert len(attempts) == 3 and any(
        r.levelno == logging.ERROR and "kept for the next run" in r.getMessage()
        for r in caplog.records
    )
    assert len(mailbox.messages) == 1  # the other channels went through
    with store.session() as session:
        row = session.get(WatchAlert, report.alerted[0])
        assert (
            row.pending == ["webhook"] and "webhook" in row.last_error and row.delivered_at is None
        )

    fixed = _alerting(settings, webhook, mailbox)
    later = run_watch(fixed, store, now=NOW + timedelta(minutes=5))
    assert later.alerted == [] and later.delivered == report.alerted and later.undelivered == {}
    assert len(webhook.bodies) == 1 and "E-500" in webhook.bodies[0]["text"]
    assert len(mailbox.messages) == 1  # e-mail is not sent twice
    with store.session() as session:
        row = session.get(WatchAlert, report.alerted[0])
        assert row.pending == [] and row.delivered_at is not None


def test_cli_watch_and_watch_test(settings, store, webhook, mailbox, monkeypatch):
    alerting = _alerting(settings, webhook, mailbox)
    env = {
        f"KB_{name.upper()}": str(getattr(alerting, name))
        for name in (
            "cases_dir",
            "data_dir",
            "embed_model",
            "alert_webhook_url",
            "alert_smtp_host",
            "alert_smtp_port",
            "alert_smtp_security",
            "alert_email_from",
            "alert_email_to",
            "alert_retry_backoff_seconds",
        )
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(main, ["watch", "--test"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "webhook: delivered",
        "email: delivered",
        "log: delivered",
    ]
    assert "test alert" in webhook.bodies[0]["text"] and mailbox.messages[0][1][
        "Subject"
    ].startswith("[KB test]")

    log_searches(store, "E-42", burst(9, end=datetime.now(UTC)))
    result = runner.invoke(main, ["watch", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [b["subject"] for b in report["bursts"]] == ["E-42"] and len(report["alerted"]) == 1
    assert "E-42" in webhook.bodies[1]["text"]

    monkeypatch.setenv("KB_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{_free_port()}/")
    result = runner.invoke(main, ["watch", "--test"])
    assert result.exit_code == 1 and result.output.startswith("webhook: FAILED: ")


def test_scheduler_files_run_kb_watch():
    service = (REPO / "scripts/systemd/kb-watch.service").read_text()
    timer = (REPO / "scripts/systemd/kb-watch.timer").read_text()
    cron = (REPO / "scripts/cron/kb-watch.cron").read_text()
    assert "kb watch" in service and "OnUnitActiveSec=5min" in timer and "*/5 * * * *" in cron


def _sim(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts/sim_bursts.py"), "--smoke", "--json", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return json.loads(out)


def test_sim_bursts_smoke_finds_the_bursts_without_false_alerts():
    for kind, figures in _sim().items():  # steady and overdispersed traffic, the default rule
        assert figures["recall"]["10"] == 1.0, (
            kind
        )  # 10 in 30 minutes over a background of 1 a day is always caught
        assert figures["false_alerts_per_week"] == 0.0, kind
    old = _sim("--traffic", "overdispersed", "--p-threshold", "1e-4", "--dispersion", "0")[
        "overdispersed"
    ]
    assert (
        old["false_alerts_per_week"] >= 5
    )  # the former rule (Poisson, p < 1e-4) on the same traffic
