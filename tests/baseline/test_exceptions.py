"""Exceptions: matching, expiry, and their records judged by ST-02."""

from __future__ import annotations

import datetime as dt

from baseline.evaluator import Evaluator, Subject
from baseline.exceptions import EXCEPTION_TYPE, exception_record, is_expired, match_exception
from baseline.intent import ExceptionIntent

TODAY = dt.date(2026, 11, 22)


def exc(control: str = "POD-05", expires: str = "2026-12-31", **scope: object) -> ExceptionIntent:
    return ExceptionIntent.model_validate(
        {"control": control, "scope": scope or {"namespace": "shop"}, "owner": "shop-team",
         "reason": "debugging the checkout outage", "expires": expires, "ticket": "SHOP-9"}
    )


def pod(namespace: str, name: str = "p") -> Subject:
    return Subject({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}})


def test_expiry_is_inclusive_of_the_last_day() -> None:
    assert not is_expired(exc(expires="2026-11-22"), TODAY)
    assert is_expired(exc(expires="2026-11-21"), TODAY)


def test_match_by_control_scope_and_date() -> None:
    e = exc()
    assert match_exception([e], "POD-05", pod("shop"), TODAY) is not None
    assert match_exception([e], "POD-04", pod("shop"), TODAY) is None  # another control
    assert match_exception([e], "POD-05", pod("payments"), TODAY) is None  # another namespace
    assert match_exception([e], "POD-05", pod("shop"), dt.date(2027, 1, 1)) is None  # expired by then
    cluster = exc(cluster=True)
    assert match_exception([cluster], "POD-05", pod("anywhere"), TODAY) is not None
    glob = exc(namespace="shop", objectName="debug-*")
    assert match_exception([glob], "POD-05", pod("shop", "debug-7"), TODAY) is not None
    assert match_exception([glob], "POD-05", pod("shop", "web"), TODAY) is None
    assert match_exception([glob], "POD-05", pod("other", "debug-7"), TODAY) is None


def test_active_exception_says_whose_it_is() -> None:
    active = match_exception([exc()], "POD-05", pod("shop"), TODAY)
    assert active is not None
    assert active.to_dict() == {
        "control": "POD-05",
        "owner": "shop-team",
        "reason": "debugging the checkout outage",
        "expires": "2026-12-31",
        "scope": "namespace=shop",
        "ticket": "SHOP-9",
    }
    assert active.days_left(TODAY) == 39


def test_exception_records_are_judged_by_st02() -> None:
    ev = Evaluator(exceptions=[exc(expires="2026-11-21"), exc(expires="2027-01-31")], today=TODAY)
    subjects = ev.exception_subjects()
    assert [s.type for s in subjects] == [EXCEPTION_TYPE, EXCEPTION_TYPE]
    verdicts = [[f.status for f in ev.evaluate(s) if f.control_id == "ST-02"] for s in subjects]
    assert verdicts == [["fail"], ["pass"]]


def test_record_shape() -> None:
    assert exception_record(exc(namespace="shop", objectName="debug-*")) == {
        "control": "POD-05",
        "scope": {"namespace": "shop", "objectName": "debug-*"},
        "owner": "shop-team",
        "reason": "debugging the checkout outage",
        "expires": "2026-12-31",
        "ticket": "SHOP-9",
    }
