"""The engagement summary: unique counts per segment, machine hits apart, conversions
attributed within the window after a human click."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.models import EngagementEvent
from analytics.service import summary
from campaigns.models import OutboxStatus
from tests.analytics.builders import SENT_AT, send_message
from tests.factories import make_event, make_patient

AS_OF = "2023-12-31"
CLICK_AT = SENT_AT + timedelta(hours=2)


def hit(session, sent, kind, at=CLICK_AT, ua_class="browser"):
    session.add(EngagementEvent(outbox_id=sent.message.id, kind=kind, occurred_at=at,
                                user_agent_class=ua_class))
    session.flush()


def segment_row(result, name):
    return next(row for row in result["segments"] if row["segment"] == name)


def test_nothing_sent_gives_empty_segments_and_zero_totals(session):
    result = summary(session, AS_OF)
    assert result["segments"] == []
    assert result["totals"]["sent"] == 0
    assert result["totals"]["open_rate"] == 0.0


def test_opens_and_clicks_are_distinct_messages_with_human_hits(session):
    opened_twice, clicked_only, proxy_only, silent = (send_message(session) for _ in range(4))
    hit(session, opened_twice, "open")
    hit(session, opened_twice, "open")
    hit(session, clicked_only, "click")  # a click implies an open
    hit(session, clicked_only, "click")
    hit(session, proxy_only, "open", ua_class="apple_mpp")
    hit(session, proxy_only, "click", ua_class="scanner")
    row = summary(session, AS_OF)["segments"][0]
    assert (row["sent"], row["unique_opens"], row["clicks"]) == (4, 2, 1)
    assert (row["machine_opens"], row["scanner_clicks"]) == (1, 1)
    assert (row["open_rate"], row["click_rate"]) == (0.5, 0.25)
    del silent


def test_rates_never_pass_one_hundred_percent(session):
    sent = send_message(session)
    for _ in range(5):
        hit(session, sent, "open")
        hit(session, sent, "click")
    totals = summary(session, AS_OF)["totals"]
    assert (totals["unique_opens"], totals["clicks"]) == (1, 1)
    assert totals["open_rate"] == totals["click_rate"] == 1.0


def test_counts_are_grouped_per_segment_and_totalled(session):
    for _ in range(3):
        hit(session, send_message(session, segment="Hypertension"), "open")
    send_message(session, segment="Asthma")
    result = summary(session, AS_OF)
    assert [row["segment"] for row in result["segments"]] == ["Asthma", "Hypertension"]
    assert segment_row(result, "Hypertension")["unique_opens"] == 3
    assert segment_row(result, "Asthma")["unique_opens"] == 0
    assert (result["totals"]["sent"], result["totals"]["unique_opens"]) == (4, 3)


def test_only_sent_messages_up_to_as_of_are_counted(session):
    send_message(session)
    send_message(session, status=OutboxStatus.QUEUED)
    send_message(session, status=OutboxStatus.FAILED)
    late = send_message(session, sent_at=SENT_AT.replace(year=2024, month=1))
    hit(session, late, "open", at=late.message.sent_at + timedelta(hours=1))
    totals = summary(session, AS_OF)["totals"]
    assert (totals["sent"], totals["unique_opens"]) == (1, 0)
    assert summary(session, "2024-01-31")["totals"]["unique_opens"] == 1


def test_hits_after_as_of_are_not_counted(session):
    sent = send_message(session)
    hit(session, sent, "click", at=SENT_AT.replace(year=2024, month=1, day=2))
    assert summary(session, AS_OF)["totals"]["clicks"] == 0


# (event name, days after the click, counted as a conversion)
ATTRIBUTION = [
    ("Appointment Booked", 0.5, True),
    ("Prescription Filled", 6.9, True),
    ("Form Submitted", 7, True),
    ("Appointment Booked", 7.1, False),
    ("Appointment Booked", -1, False),  # before the click
    ("Newsletter Viewed", 1, False),  # not a conversion event
]


@pytest.mark.parametrize("name,days,converted", ATTRIBUTION)
def test_conversion_is_attributed_inside_the_window_only(session, name, days, converted):
    patient = make_patient(session)
    sent = send_message(session, patient=patient)
    hit(session, sent, "click")
    make_event(session, patient, name, CLICK_AT + timedelta(days=days))
    totals = summary(session, "2024-01-31")["totals"]
    assert totals["conversions"] == (1 if converted else 0)
    assert totals["conversion_rate"] == (1.0 if converted else 0.0)


def test_conversion_needs_a_human_click_by_the_same_patient(session):
    scanned, opened_only = make_patient(session), make_patient(session)
    bystander = make_patient(session)
    hit(session, send_message(session, patient=scanned), "click", ua_class="scanner")
    hit(session, send_message(session, patient=opened_only), "open")
    hit(session, send_message(session, patient=make_patient(session)), "click")
    for patient in (scanned, opened_only, bystander):
        make_event(session, patient, "Appointment Booked", CLICK_AT + timedelta(days=1))
    assert summary(session, AS_OF)["totals"]["conversions"] == 0


def test_several_conversion_events_count_one_conversion_per_message(session):
    patient = make_patient(session)
    sent = send_message(session, patient=patient)
    hit(session, sent, "click")
    for day in (1, 2, 3):
        make_event(session, patient, "Appointment Booked", CLICK_AT + timedelta(days=day))
    assert summary(session, AS_OF)["totals"]["conversions"] == 1


def test_conversion_window_comes_from_config(app, session):
    app.config["CONVERSION_WINDOW_DAYS"] = 2
    patient = make_patient(session)
    sent = send_message(session, patient=patient)
    hit(session, sent, "click")
    make_event(session, patient, "Form Submitted", CLICK_AT + timedelta(days=3))
    result = summary(session, AS_OF)
    assert result["conversion_window_days"] == 2
    assert result["totals"]["conversions"] == 0
