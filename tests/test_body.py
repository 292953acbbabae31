"""webui.body: JSON request bodies as a dict or a 400 naming the body (never a 500), through the drafts routes."""

from __future__ import annotations

import json

import pytest

from webui import create_app
from webui.body import MAX_DEPTH, BodyError, nesting_depth, parse_object

DEEP = 100_000


def test_nesting_depth_counts_brackets_outside_strings():
    assert nesting_depth(b'{"a": [1, {"b": []}]}') == 4
    assert nesting_depth(b'{"a": "[[[[{{{{", "b": "\\"[["}') == 1
    assert nesting_depth(b"[]") == 1 and nesting_depth(b'"x"') == 0 and nesting_depth(b"") == 0
    assert nesting_depth(b"[" * DEEP, stop=MAX_DEPTH) == MAX_DEPTH + 1  # stops early


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "the body is empty"),
        (b"   \n", "the body is empty"),
        (
            b"{",
            "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b'{"a": 1,}', "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"text"', "must be a JSON object, not a string"),
        (b"null", "must be a JSON object, not null"),
        (b"12", "must be a JSON object, not a number"),
        (b"true", "must be a JSON object, not a boolean"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),  # more digits than Python converts
        (b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
        (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "nested too deeply"),
        (b"[" * DEEP, "nested too deeply"),  # unbalanced too
        (b'{"verdict": "\\ud800"}', "verdict: a .u escape that is half of a character pair"),
        (b'{"fields": {"title": "ok \\udfff"}}', "fields.title: a .u escape"),
        (b'{"tags": ["a", "\\udc80"]}', r"tags\[1\]: a .u escape"),
        (b'{"\\ud800": 1}', "a key: a .u escape"),
    ],
)
def test_parse_object_says_what_is_wrong(data, reason):
    with pytest.raises(BodyError, match=reason) as caught:
        parse_object(data)
    assert caught.value.status == 400 and caught.value.to_dict()["field"] == "body"


def test_a_whole_character_pair_is_text():
    assert parse_object(b'{"q": "\\ud83d\\ude00 ok"}') == {"q": "\U0001f600 ok"}


def test_parse_object_accepts_objects_up_to_the_depth():
    nested = json.dumps({"fields": {"title": "[[[{{{"}, "sections": {}}).encode()
    assert parse_object(nested) == {"fields": {"title": "[[[{{{"}, "sections": {}}
    deepest = b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH
    assert nesting_depth(deepest) == MAX_DEPTH and isinstance(parse_object(deepest), dict)
    with pytest.raises(BodyError, match="nested too deeply"):
        parse_object(b'{"x":' + deepest + b"}")


@pytest.fixture
def client(settings):
    app = create_app(settings, test_config={"KB_ROLE": "engineer"})
    yield app.test_client()
    app.extensions["kb"].close()


@pytest.mark.parametrize("route", ["/api/v1/drafts/check", "/api/v1/drafts/redact"])
@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
        (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "nested too deeply"),
        (b'{"fields": {"title": ' + b"[" * DEEP + b"]" * DEEP + b"}}", "nested too deeply"),
        (b"{not json", "not valid JSON"),
        (b"[]", "must be a JSON object, not an array"),
        (b"", "the body is empty"),
        (b'{"fields": {}, "sections": {"symptoms": "\\udfff"}}', "sections.symptoms"),
        (b'{"fields": {"title": "\\ud800"}, "sections": {}}', "fields.title"),
    ],
)
def test_drafts_routes_answer_400_for_bad_bodies(client, route, body, reason):
    response = client.post(route, data=body, content_type="application/json")
    data = response.get_json()
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert (
        data["ok"] is False
        and data["status"] == 400
        and data["field"] == "body"
        and reason in data["error"]
    )


@pytest.mark.parametrize("route", ["/api/v1/drafts/check", "/api/v1/drafts/redact"])
def test_drafts_routes_refuse_a_body_over_the_limit(client, route):
    response = client.post(
        route, data=b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}', content_type="application/json"
    )
    assert response.status_code == 413 and response.get_json()["ok"] is False


def test_a_smaller_limit_is_a_413_naming_the_body(settings):
    app = create_app(settings, test_config={"KB_ROLE": "engineer"})
    try:
        from webui.body import BodyTooLargeError, json_object

        with app.test_request_context(
            "/",
            method="POST",
            data=b'{"a": "' + b"x" * 100 + b'"}',
            content_type="application/json",
        ):
            with pytest.raises(
                BodyTooLargeError, match=r"too large \(109 bytes; at most 50\)"
            ) as caught:
                json_object(max_bytes=50)
            assert caught.value.status == 413 and caught.value.to_dict()["field"] == "body"
            assert json_object(max_bytes=200) == {"a": "x" * 100}
    finally:
        app.extensions["kb"].close()
