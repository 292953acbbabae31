"""Alert delivery for ``kb watch``: the message, and the channels (webhook, e-mail, log line).

An alert is a plain dict (the ``payload`` kept in the alert-state table) holding only what the
support role may see. Each channel is a small named function in :data:`CHANNELS`; :func:`deliver`
tries each one a few times with backoff, logs every failure and returns what is still undelivered,
so the caller keeps it for the next run. Nothing here raises on a delivery failure.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from kb.settings import Settings

log = logging.getLogger("kb.alerts")
Payload = dict[str, Any]


def alert_title(payload: Payload) -> str:
    """One line naming the alert: test, new problem or burst, and its subject."""
    if payload.get("kind") == "test":
        return "[KB test] kb watch test alert: delivery works"
    what = "NEW PROBLEM" if payload.get("new_problem") else "Burst"
    noun = "error code" if payload["subject_type"] == "code" else "log signature"
    return f"[KB] {what}: {noun} {payload['label']} searched {payload['count']}× in {payload['window_minutes']} min"


def alert_text(payload: Payload) -> str:
    """The alert as plain text (the webhook's ``text``, the mail's body, the log line's detail)."""
    lines = [alert_title(payload)]
    if payload.get("kind") == "test":
        lines.append(
            f"Sent by kb watch --test at {payload.get('sent_at', '')}. No burst is behind this message."
        )
        return "\n".join(lines)
    if payload["subject_type"] == "signature":
        lines.append(f"Signature {payload['subject']}: {payload['label']}")
    lines.append(
        f"{payload['count']} searches from {payload['window_start']} to {payload['window_end']} (UTC); "
        f"the baseline expects {payload['expected']:.2f} (P = {payload['p_value']:.1e})."
    )
    lines.append(
        f"Zero-result searches: {payload['zero_result']} of {payload['count']}; "
        f"ended escalated: {payload['escalated']} of {payload['count']}."
    )
    if payload.get("new_problem"):
        lines.append("New problem: " + "; ".join(payload.get("new_problem_reasons", [])) + ".")
    top = payload.get("top_case")
    lines.append(
        f"Top matching case: {top['id']} {top['title']}"
        if top
        else "Top matching case: none (no case visible to support matches)."
    )
    for name in ("trends", "signature"):
        if payload.get("links", {}).get(name):
            lines.append(f"{name.capitalize()}: {payload['links'][name]}")
    return "\n".join(lines)


def _send_webhook(payload: Payload, settings: Settings) -> None:
    body = json.dumps({"text": alert_text(payload)}).encode(
        "utf-8"
    )  # Slack and Teams incoming webhooks both take it
    request = urllib.request.Request(
        settings.alert_webhook_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    with urllib.request.urlopen(request, timeout=settings.alert_timeout_seconds) as response:  # noqa: S310 (a configured URL)
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered HTTP {response.status}")


def email_message(payload: Payload, settings: Settings) -> EmailMessage:
    """The alert as an e-mail from ``alert_email_from`` to ``alert_email_to``."""
    message = EmailMessage()
    message["Subject"] = alert_title(payload)
    message["From"] = settings.alert_email_from or "kb-watch@localhost"
    message["To"] = ", ".join(_recipients(settings))
    message.set_content(alert_text(payload))
    return message


def _recipients(settings: Settings) -> list[str]:
    return [r.strip() for r in settings.alert_email_to.split(",") if r.strip()]


def _send_email(payload: Payload, settings: Settings) -> None:
    timeout = settings.alert_timeout_seconds
    if settings.alert_smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.alert_smtp_host,
            settings.alert_smtp_port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(settings.alert_smtp_host, settings.alert_smtp_port, timeout=timeout)
    with smtp:
        if settings.alert_smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.alert_smtp_user:
            smtp.login(settings.alert_smtp_user, settings.alert_smtp_password)
        smtp.send_message(email_message(payload, settings))


def _send_log(payload: Payload, settings: Settings) -> None:
    log.warning("%s | %s", alert_title(payload), alert_text(payload).replace("\n", " | "))


CHANNELS: dict[str, Callable[[Payload, Settings], None]] = {
    "webhook": _send_webhook,
    "email": _send_email,
    "log": _send_log,
}


def configured_channels(settings: Settings) -> list[str]:
    """The channels the settings turn on: the log line always, the webhook and e-mail when configured."""
    channels = []
    if settings.alert_webhook_url:
        channels.append("webhook")
    if settings.alert_smtp_host and _recipients(settings):
        channels.append("email")
    return channels + ["log"]


def deliver(
    payload: Payload,
    channels: list[str],
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Send ``payload`` through each of ``channels``, up to ``alert_retries`` attempts each with
    doubling backoff. Returns channel -> last error for those that failed (empty: all delivered);
    every failed attempt is logged. Never raises for a delivery failure."""
    failed: dict[str, str] = {}
    for name in channels:
        send = CHANNELS.get(name)
        if send is None:
            failed[name] = f"unknown channel '{name}' (channels: {', '.join(CHANNELS)})"
            log.error("alert %s: %s", payload.get("id", "-"), failed[name])
            continue
        wait = settings.alert_retry_backoff_seconds
        for attempt in range(1, settings.alert_retries + 1):
            try:
                send(payload, settings)
            except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "alert %s: %s delivery attempt %d/%d failed: %s",
                    payload.get("id", "-"),
                    name,
                    attempt,
                    settings.alert_retries,
                    failed[name],
                )
                if attempt < settings.alert_retries:
                    sleep(wait)
                    wait *= 2
            else:
                failed.pop(name, None)
                break
        if name in failed:
            log.error(
                "alert %s: %s not delivered after %d attempts (kept for the next run): %s",
                payload.get("id", "-"),
                name,
                settings.alert_retries,
                failed[name],
            )
    return failed
