"""How Python values become span attributes and log fields."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

from tasker_core import _native, tracing


class Unprintable:
    def __str__(self):
        raise RuntimeError("no str for you")


def test_values_convert_as_documented(capture):
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    ident = uuid.UUID("0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11")

    def work():
        with tracing.span(
            "fields",
            s="text",
            i=42,
            big=2**80,
            f=1.5,
            b=True,
            n=None,
            when=when,
            day=dt.date(2025, 1, 2),
            ident=ident,
            items=[1, "a", None, {"k": 1}],
            tags={"x"},
            order={"id": 7, "customer": {"tier": "gold"}},
            raw=b"bytes\xff",
            amount=decimal.Decimal("9.99"),
            bad=Unprintable(),
        ):
            pass

    capture.run(work)
    a = capture.span("fields")["attributes"]
    assert a["s"] == "text" and a["i"] == 42 and a["big"] == str(2**80)
    assert a["f"] == 1.5 and a["b"] is True and a["n"] == "null"
    assert a["when"] == "2025-01-02T03:04:05+00:00" and a["day"] == "2025-01-02"
    assert a["ident"] == str(ident)
    assert a["items"] == '[1,"a",null,{"k":1}]' and a["tags"] == '["x"]'
    assert a["order.id"] == 7 and a["order.customer.tier"] == "gold"
    assert a["raw"] == "bytes\ufffd" and a["amount"] == "9.99"
    assert a["bad"] == "<unprintable Unprintable>"


def test_cycles_do_not_hang(capture):
    d = {"name": "loop"}
    d["self"] = d
    lst = [1]
    lst.append(lst)
    deep = current = []
    for _ in range(500):
        nxt = []
        current.append(nxt)
        current = nxt

    def work():
        with tracing.span("cyclic", d=d, lst=lst, deep=deep):
            tracing.info("cyclic event", d=d)

    capture.run(work)
    a = capture.span("cyclic")["attributes"]
    assert a["d.name"] == "loop" and a["d.self"] == "[cycle]"
    assert "[cycle]" in a["lst"]
    assert "nested deeper" in a["deep"]
    assert any(l["message"] == "cyclic event" for l in capture.json_lines())


def test_big_values_are_truncated_by_the_core(capture_factory):
    cap = capture_factory(("spans.max_attribute_length", "64"))

    def work():
        with tracing.span("big", blob="x" * 1000):
            pass

    cap.run(work)
    blob = cap.span("big")["attributes"]["blob"]
    assert blob.startswith("x" * 64) and blob.endswith("…[truncated 936 bytes]")


def test_secrets_are_redacted(capture):
    def work():
        with tracing.span("login", user="ann", api_token="s3cr3t", auth={"password": "p"}):
            tracing.info("logged in", session_cookie="c")

    capture.run(work)
    a = capture.span("login")["attributes"]
    assert a["user"] == "ann" and a["api_token"] == "[REDACTED]" and a["auth.password"] == "[REDACTED]"
    line = next(l for l in capture.json_lines() if l["message"] == "logged in")
    assert line["fields"]["session_cookie"] == "[REDACTED]"
