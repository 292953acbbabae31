"""Customer data stays out of URLs (issue 16, item 6): multi-line pastes and anything the
sensitive-data check flags are linked by search token, whatever their length."""

from __future__ import annotations

import re

import pytest
from worlds import en

from webui.params import keep_out_of_urls

MAIL = "Outgoing mail waits in the queue on the relay node\n山田 taro.yamada@example.co.jp\n電話 090-1234-5678"


@pytest.mark.parametrize(
    "text",
    [
        MAIL,
        "mail queue stalls\nsecond line",
        "contact ops@acme-tsusho.jp please",
        "login fails password=Hunter2Secret!",
        "relay 172.16.5.20 refuses",
        "x" * 2100,
    ],
)
def test_texts_that_must_stay_out_of_urls(text):
    assert keep_out_of_urls(text)


@pytest.mark.parametrize(
    "text",
    [
        "SCH-13208",
        "mail queue relay",
        "予定の一部削除でエラー",
        "version 5.9.1 on 2026-03-02",
        "  trailing newline only\n",
    ],
)
def test_short_one_line_queries_may_be_shared_as_urls(text):
    assert not keep_out_of_urls(text)


def _links(body: str) -> list[str]:
    return [
        h
        for h in re.findall(r'href="([^"]+)"', body)
        if h.startswith("/search") or h.startswith("/cases/")
    ]


def test_a_pasted_email_is_linked_by_token_never_by_its_text(client):
    form = en(client).get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = client.post("/search", data={"q": MAIL, "csrf_token": token})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    links = _links(body)
    assert links and all("yamada" not in h and "090" not in h and "q=" not in h for h in links)
    assert any("sid=" in h for h in links)


def test_a_sensitive_query_that_arrives_by_get_is_not_repeated_in_the_page_links(client):
    body = (
        en(client)
        .get("/search", query_string={"q": "mail relay ops@acme-tsusho.jp"})
        .get_data(as_text=True)
    )
    assert all("acme-tsusho" not in h for h in _links(body))
    assert any("sid=" in h for h in _links(body))
    short = en(client).get("/search", query_string={"q": "mail relay"}).get_data(as_text=True)
    assert any("q=mail+relay" in h for h in _links(short))  # a plain query keeps its shareable URL
