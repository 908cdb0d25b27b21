"""The latency chart: a self-contained, accessible SVG that always parses and scales its points."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest
from markupsafe import Markup

from opsyard_synthetics.chart import Series, latency_chart
from opsyard_synthetics.definitions import Thresholds

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
# Short enough to be shown whole in the legend (longer names are shortened there).
HOSTILE = '<script>x()</script>&amp;" onload="y()\x01\x1b'


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    lines = []
    for element in root.iter(f"{SVG}polyline"):
        pairs = [pair.split(",") for pair in element.attrib["points"].split()]
        lines.append([(float(x), float(y)) for x, y in pairs])
    return lines


def texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def steady(name: str, ms: float, count: int = 12) -> Series:
    return Series(name, [(minutes(5 * i), ms) for i in range(count)])


def test_a_self_contained_accessible_svg() -> None:
    svg = latency_chart(
        [steady("eu-west", 120.0), steady("us-east", 180.0)],
        thresholds=Thresholds(degraded_ms=500, failing_ms=1000),
        title="checkout-api response time",
    )
    assert isinstance(svg, Markup)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.attrib["role"] == "img"
    assert (root.attrib["width"], root.attrib["height"]) == ("720", "200")
    assert root.attrib["viewBox"] == "0 0 720 200"
    # aria-labelledby points at the <title> and <desc> of this very document.
    title_id, desc_id = root.attrib["aria-labelledby"].split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.attrib["id"] == title_id
    assert title.text == "checkout-api response time"
    assert desc is not None and desc.attrib["id"] == desc_id
    assert desc.text == (
        "Response times in ms from 2 locations, 2024-05-01 10:00 to 2024-05-01 10:55 UTC, "
        "from 120 ms to 180 ms."
    )
    # Nothing that runs, nothing that loads.
    for element in root.iter():
        assert element.tag not in (f"{SVG}script", f"{SVG}foreignObject", f"{SVG}image")
        assert f"{SVG}style" != element.tag
        for name, value in element.attrib.items():
            assert "href" not in name
            assert not name.startswith("on")
            assert "url(" not in value
    assert "<script" not in svg.lower()
    assert "javascript:" not in svg.lower()


def test_a_hostile_location_name_is_escaped() -> None:
    svg = latency_chart([steady(HOSTILE, 100.0)], thresholds=None, title=f"title {HOSTILE}")
    root = parse(svg)  # control characters were replaced, so it still parses
    assert "<script" not in svg
    assert not any(element.tag == f"{SVG}script" for element in root.iter())
    assert not any(name.startswith("on") for e in root.iter() for name in e.attrib)
    shown = '<script>x()</script>&amp;" onload="y()\ufffd\ufffd'
    # The name comes back as text, exactly, in the legend and in the series' label.
    assert shown in texts(root)
    assert [g.attrib["aria-label"] for g in root.iter(f"{SVG}g") if "aria-label" in g.attrib] == [
        shown
    ]
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == f"title {shown}"


def test_gaps_are_drawn_as_separate_polylines() -> None:
    points: list[tuple[datetime, float | None]] = [
        (minutes(0), 100.0),
        (minutes(5), 110.0),
        (minutes(10), None),
        (minutes(15), 120.0),
        (minutes(20), 130.0),
        (minutes(25), None),
        (minutes(30), None),
        (minutes(35), 90.0),
        (minutes(40), 95.0),
        (minutes(45), 99.0),
    ]
    root = parse(latency_chart([Series("eu-west", points)], thresholds=None, title="t"))
    assert [len(line) for line in polylines(root)] == [2, 2, 3]
    # A lone point between two gaps is a dot, not an invisible one-point line.
    lonely: list[tuple[datetime, float | None]] = [
        (minutes(0), 100.0),
        (minutes(5), None),
        (minutes(10), 200.0),
        (minutes(15), None),
    ]
    root = parse(latency_chart([Series("eu-west", lonely)], thresholds=None, title="t"))
    assert polylines(root) == []
    assert len(list(root.iter(f"{SVG}circle"))) == 2


def test_points_are_scaled_into_the_box() -> None:
    series = [
        Series("eu-west", [(minutes(0), 0.0), (minutes(30), 400.0), (minutes(60), 800.0)]),
        Series("us-east", [(minutes(15), 200.0), (minutes(45), 600.0)]),
    ]
    root = parse(latency_chart(series, width=600, height=300, thresholds=None, title="t"))
    eu, us = polylines(root)
    xs = [x for x, _ in eu + us]
    ys = [y for _, y in eu + us]
    assert all(0 <= x <= 600 for x in xs)
    assert all(0 <= y <= 300 for y in ys)
    # Time runs left to right across the whole plot, evenly.
    (x0, y0), (x30, y30), (x60, y60) = eu
    assert x0 < us[0][0] < x30 < us[1][0] < x60
    assert x30 - x0 == pytest.approx(x60 - x30, abs=0.1)
    assert us[0][0] - x0 == pytest.approx((x30 - x0) / 2, abs=0.1)
    # Latency runs bottom to top, linearly from a zero baseline.
    assert y0 > y30 > y60
    assert y0 - y30 == pytest.approx(y30 - y60, abs=0.1)
    assert (y0 + y30) / 2 == pytest.approx(us[0][1], abs=0.1)
    # The axis ends on a round tick above the highest point: 800 ms is 80 % of the way to 1 s.
    axis = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "y-axis")
    assert texts(axis) == ["0 ms", "250 ms", "500 ms", "750 ms", "1 s"]
    grid = [float(line.attrib["y1"]) for line in axis.iter(f"{SVG}line")]
    assert grid[0] == pytest.approx(y0, abs=0.1)
    assert y0 - y60 == pytest.approx(0.8 * (grid[0] - grid[-1]), abs=0.1)
    assert grid[-1] >= 0


def test_thresholds_are_dashed_lines_at_their_height() -> None:
    series = [Series("eu-west", [(minutes(0), 0.0), (minutes(10), 250.0)])]
    root = parse(
        latency_chart(series, thresholds=Thresholds(degraded_ms=500, failing_ms=1000), title="t")
    )
    lines = {
        group.attrib["class"]: group
        for group in root.iter(f"{SVG}g")
        if group.attrib.get("class", "").startswith("threshold ")
    }
    assert set(lines) == {"threshold threshold-degraded", "threshold threshold-failing"}
    heights = {}
    for name, group in lines.items():
        line = group.find(f"{SVG}line")
        assert line is not None and line.attrib["stroke-dasharray"]
        assert line.attrib["y1"] == line.attrib["y2"]
        heights[name] = float(line.attrib["y1"])
    zero_y = polylines(root)[0][0][1]
    top_y = polylines(root)[0][1][1]
    # 250 ms is a quarter of the way to 1000 ms, and 500 ms half of it.
    degraded = heights["threshold threshold-degraded"]
    failing = heights["threshold threshold-failing"]
    assert zero_y - top_y == pytest.approx((zero_y - failing) / 4, abs=0.2)
    assert zero_y - degraded == pytest.approx((zero_y - failing) / 2, abs=0.2)
    assert {"degraded 500 ms", "failing 1 s"} <= set(texts(root))


def test_only_the_thresholds_that_are_set_are_drawn() -> None:
    root = parse(
        latency_chart([steady("eu-west", 100.0)], thresholds=Thresholds(failing_ms=2500), title="t")
    )
    classes = [g.attrib.get("class", "") for g in root.iter(f"{SVG}g")]
    assert "threshold threshold-failing" in classes
    assert "threshold threshold-degraded" not in classes
    assert "failing 2.5 s" in texts(root)


def test_time_ticks_are_readable() -> None:
    hour = latency_chart([steady("eu-west", 100.0, count=13)], thresholds=None, title="t")
    labels = [t for t in texts(parse(hour)) if ":" in t]
    assert labels == ["10:00", "10:10", "10:20", "10:30", "10:40", "10:50", "11:00"]
    week = Series("eu-west", [(T0 + timedelta(hours=6 * i), 100.0) for i in range(28)])
    labels = texts(parse(latency_chart([week], thresholds=None, title="t")))
    # 6.75 days on 720 px: a tick every other day, at midnight UTC, labelled by date.
    assert [label for label in labels if "May" in label] == ["03 May", "05 May", "07 May"]
    assert all(":" not in label for label in labels)


def test_times_in_other_zones_are_placed_by_instant() -> None:
    paris = timezone(timedelta(hours=2))
    utc = Series("a", [(minutes(0), 100.0), (minutes(60), 100.0)])
    local = Series(
        "a", [(minutes(0).astimezone(paris), 100.0), (minutes(60).astimezone(paris), 100.0)]
    )
    assert latency_chart([utc], thresholds=None, title="t") == latency_chart(
        [local], thresholds=None, title="t"
    )


def test_ms_ticks_are_round_numbers() -> None:
    root = parse(latency_chart([steady("eu-west", 370.0)], thresholds=None, title="t"))
    ms_labels = [t for t in texts(root) if t.endswith(("ms", " s"))]
    assert ms_labels == ["0 ms", "100 ms", "200 ms", "300 ms", "400 ms"]


def test_a_legend_entry_per_location_with_its_line_colour() -> None:
    names = [f"location-{i}" for i in range(10)]
    root = parse(
        latency_chart(
            [steady(n, 100.0 + i) for i, n in enumerate(names)], thresholds=None, title="t"
        )
    )
    legend = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "legend")
    entries = legend.findall(f"{SVG}g")
    assert ["".join(e.find(f"{SVG}text").itertext()) for e in entries] == names  # type: ignore[union-attr]
    series = [g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "series"]
    for entry, group in zip(entries, series, strict=True):
        swatch = entry.find(f"{SVG}line")
        line = group.find(f"{SVG}polyline")
        assert swatch is not None and line is not None
        assert swatch.attrib["stroke"] == line.attrib["stroke"]
    # Ten legend entries do not fit one row of 720 px: the chart grows rather than squash.
    assert int(root.attrib["height"]) >= 200
    rows = {entry.find(f"{SVG}text").attrib["y"] for entry in entries}  # type: ignore[union-attr]
    assert len(rows) >= 2


def test_a_long_name_is_shortened_in_the_legend_but_kept_whole_in_its_title() -> None:
    name = "x" * 80
    root = parse(latency_chart([steady(name, 100.0)], thresholds=None, title="t"))
    assert "x" * 39 + "…" in texts(root)
    legend = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "legend")
    assert legend.find(f"{SVG}g/{SVG}title").text == name  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "series",
    [
        [],
        [Series("eu-west", [])],
    ],
)
def test_no_results_says_so(series: list[Series]) -> None:
    root = parse(latency_chart(series, thresholds=Thresholds(failing_ms=1000), title="t"))
    assert "No results in this period" in texts(root)
    assert polylines(root) == []


def test_only_gaps_still_draws_the_axes() -> None:
    series = [Series("eu-west", [(minutes(0), None), (minutes(5), None)])]
    root = parse(latency_chart(series, thresholds=None, title="t"))
    assert polylines(root) == []
    assert "10:00" in texts(root)
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None and "from 1 location" in desc.text


def test_a_single_instant_is_centred() -> None:
    root = parse(latency_chart([Series("a", [(T0, 100.0)])], width=600, thresholds=None, title="t"))
    (dot,) = root.iter(f"{SVG}circle")
    plot_left, plot_right = 64, 600 - 16
    assert float(dot.attrib["cx"]) == pytest.approx((plot_left + plot_right) / 2, abs=0.1)


def test_two_charts_on_one_page_get_distinct_ids() -> None:
    first = parse(latency_chart([steady("a", 1.0)], thresholds=None, title="checkout"))
    second = parse(latency_chart([steady("a", 1.0)], thresholds=None, title="login"))
    assert first.attrib["aria-labelledby"] != second.attrib["aria-labelledby"]
    named = parse(latency_chart([], thresholds=None, title="t", chart_id="chart-7"))
    assert named.attrib["aria-labelledby"] == "chart-7-title chart-7-desc"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 100}, "at least"),
        ({"height": 50}, "at least"),
        ({"chart_id": 'x" onload="y'}, "chart id"),
        ({"chart_id": "1abc"}, "chart id"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        latency_chart([], thresholds=None, title="t", **kwargs)  # type: ignore[arg-type]
