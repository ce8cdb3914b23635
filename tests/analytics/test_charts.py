"""Dashboard presentation: counts from 1 to 10 masked in the table and left out of the chart."""

from __future__ import annotations

import pytest

from analytics.charts import display_count, figure_data, table_row


def row(segment="Diabetes care", sent=200, opens=50, clicks=5, conversions=0):
    return {
        "segment": segment, "sent": sent, "unique_opens": opens, "clicks": clicks,
        "conversions": conversions, "machine_opens": 0, "scanner_clicks": 12,
        "open_rate": opens / sent if sent else 0.0, "click_rate": clicks / sent if sent else 0.0,
        "conversion_rate": conversions / sent if sent else 0.0,
    }


@pytest.mark.parametrize("count,shown", [
    (0, "0"), (1, "<11"), (7, "<11"), (10, "<11"), (11, "11"), (1234, "1,234"),
])
def test_counts_from_one_to_ten_are_shown_as_under_eleven(count, shown):
    assert display_count(count) == shown


def test_table_row_hides_small_counts_and_the_rates_that_would_reveal_them():
    cells = table_row(row(), "Diabetes care")
    assert cells["sent"] == "200"
    assert (cells["unique_opens"], cells["open_rate"]) == ("50", "25.0%")
    assert (cells["clicks"], cells["click_rate"]) == ("<11", "—")
    assert (cells["conversions"], cells["conversion_rate"]) == ("0", "0.0%")
    assert cells["scanner_clicks"] == "12"


def test_a_small_sent_count_hides_every_rate():
    cells = table_row(row(sent=8, opens=0, clicks=0), "Tiny")
    assert cells["sent"] == "<11"
    assert {cells["open_rate"], cells["click_rate"], cells["conversion_rate"]} == {"—"}


def test_chart_has_four_grouped_series_and_leaves_masked_bars_out():
    summary = {"segments": [row("A"), row("B", sent=9, opens=3, clicks=0)]}
    data = figure_data(summary)
    assert data["layout"]["barmode"] == "group"
    series = {trace["name"]: trace["y"] for trace in data["data"]}
    assert list(series) == ["Sent", "Unique opens", "Clicks", "Conversions"]
    assert series["Sent"] == [200, None]
    assert series["Unique opens"] == [50, None]
    assert series["Clicks"] == [None, 0]
    assert all(trace["x"] == ["A", "B"] for trace in data["data"])
