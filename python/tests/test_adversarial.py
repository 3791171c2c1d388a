"""Regression tests for the defects adversarial testing found (issue "No crash, no hang, no
leak"): each reproduction, made into an assertion."""

from __future__ import annotations

import pytest

from tasker_core import tracing


class _Raises:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __str__(self) -> str:
        raise self.exc


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_keyboard_interrupt_and_system_exit_from_str_propagate(capture, exc):
    # Before: Ctrl-C during a log call became "<unprintable _Raises>" and was lost.
    def run() -> None:
        with pytest.raises(type(exc)):
            tracing.info("interrupted", value=_Raises(exc))
        with pytest.raises(type(exc)):
            with tracing.span("interrupted span", value=_Raises(exc)):
                pytest.fail("the body ran")
        with tracing.span("outer") as span:
            with pytest.raises(type(exc)):
                span.set("value", _Raises(exc))
            with pytest.raises(type(exc)):
                tracing.info("nested", items=[1, {"k": _Raises(exc)}])

    capture.run(run)
    assert capture.span("outer")["attributes"].get("value") is None


def test_ordinary_exceptions_from_str_still_become_the_marker(capture):
    capture.run(lambda: tracing.info("odd", value=_Raises(ValueError("no text"))))
    line = next(l for l in capture.json_lines() if l.get("message") == "odd")
    assert line["fields"]["value"] == "<unprintable _Raises>"


class _InterruptingSet(set):
    """A set whose iteration raises after its first item."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__([1])
        self.exc = exc

    def __iter__(self):
        yield 1
        raise self.exc


def test_an_interrupt_inside_an_iterable_field_propagates(capture):
    def run() -> None:
        with pytest.raises(KeyboardInterrupt):
            tracing.info("iter", items=_InterruptingSet(KeyboardInterrupt()))

    capture.run(run)


def test_a_lone_surrogate_becomes_one_replacement_character(capture):
    # Before: "\ud800" became three U+FFFD (its surrogatepass bytes replaced one by one).
    def run() -> None:
        with tracing.span("name\ud800x", key="a\udc80b\ud83d") as span:
            span.set("k\udfff", "v")

    capture.run(run)
    span = capture.span("name\ufffdx")
    assert span["attributes"]["key"] == "a\ufffdb\ufffd"
    assert span["attributes"]["k\ufffd"] == "v"
