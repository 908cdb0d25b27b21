"""The latency chart: a self-contained SVG of response times per location over time.

The SVG has no script, no style sheet and no reference to anything outside itself, so a page
can inline it as is and it renders the same offline. Every text in it is escaped, location
names included (they are user input), and characters XML cannot carry are replaced, so the
document always parses. Times are shown in UTC; a naive datetime is taken to be UTC.
Text uses `currentColor`, so the chart follows the page's text colour and dark mode.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from opsyard_synthetics.definitions import Thresholds

Point = tuple[datetime, float | None]

# Colour-blind-friendly line colours, none of them the amber and red of the thresholds.
PALETTE = ("#2563eb", "#059669", "#7c3aed", "#0891b2", "#db2777", "#4d7c0f", "#475569", "#9333ea")
DEGRADED_COLOUR = "#b45309"
FAILING_COLOUR = "#b91c1c"
MIN_WIDTH = 240
MIN_HEIGHT = 120

_LEFT = 64  # room for "1500 ms"
_RIGHT = 16
_TOP = 28  # room for the title
_AXIS = 22  # room for the time labels
_LEGEND_ROW = 18
_MIN_PLOT_HEIGHT = 60
_CHAR_WIDTH = 6.5  # average glyph width at the 11 px font, to lay out the legend
_LEGEND_NAME_CHARS = 40
_TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)
_WEEK = 604800
# Everything XML 1.0 cannot carry, even escaped: most control characters, lone surrogates.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CHART_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Series:
    """One location's line: its name and (time, ms) points, ms None for a run without a time."""

    name: str
    points: Sequence[Point]


def latency_chart(
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 200,
    thresholds: Thresholds | None = None,
    title: str,
    chart_id: str | None = None,
) -> Markup:
    """An accessible SVG chart of the series, with the thresholds as dashed lines.

    `chart_id` prefixes the ids the accessibility labels point at; give one when a page
    shows two charts with the same title and locations.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"a chart is at least {MIN_WIDTH} x {MIN_HEIGHT} px")
    if chart_id is None:
        names = "\n".join([title, *(line.name for line in series)])
        chart_id = "latency-" + hashlib.blake2b(names.encode(), digest_size=6).hexdigest()
    elif not _CHART_ID.fullmatch(chart_id):
        raise ValueError("a chart id is a letter then up to 63 letters, digits, - or _")

    legend = _legend_layout([line.name for line in series], width)
    legend_rows = max((row for _, row, _ in legend), default=-1) + 1
    total_height = max(height, _TOP + _MIN_PLOT_HEIGHT + _AXIS + legend_rows * _LEGEND_ROW)
    box = _Box(
        left=_LEFT,
        top=_TOP,
        right=width - _RIGHT,
        bottom=total_height - _AXIS - legend_rows * _LEGEND_ROW,
    )

    times = [_utc(at) for line in series for at, _ in line.points]
    values = [ms for line in series for _, ms in line.points if ms is not None and _finite(ms)]
    limits = (
        []
        if thresholds is None
        else [limit for limit in (thresholds.degraded_ms, thresholds.failing_ms) if limit]
    )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
        f'viewBox="0 0 {width} {total_height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
        f'<desc id="{chart_id}-desc">{_text(_describe(series, times, values))}</desc>',
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="600" fill="currentColor">'
        f"{_text(title)}</text>",
    ]
    if not times:
        parts.append(_frame(box))
        parts.append(
            f'<text x="{(box.left + box.right) / 2:.1f}" y="{(box.top + box.bottom) / 2:.1f}" '
            'text-anchor="middle" fill="currentColor" opacity="0.7">'
            "No results in this period</text>"
        )
        parts.append("</svg>")
        return Markup("".join(parts))  # noqa: S704  (every text above went through _text)

    start, end = min(times), max(times)
    if start == end:
        start, end = start - timedelta(seconds=30), end + timedelta(seconds=30)
    y_ticks = _ms_ticks(max([*values, *limits], default=0.0))
    scale = _Scale(box=box, start=start, end=end, top_ms=y_ticks[-1])

    parts.append(_y_axis(scale, y_ticks))
    parts.append(_x_axis(scale, width))
    parts.append(_frame(box))
    if thresholds is not None:
        parts.extend(_threshold_lines(scale, thresholds))
    for index, line in enumerate(series):
        parts.append(_series_lines(scale, line, PALETTE[index % len(PALETTE)]))
    parts.extend(_legend(legend, series, box.bottom + _AXIS))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text above went through _text)


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class _Scale:
    box: _Box
    start: datetime
    end: datetime
    top_ms: float

    def x(self, at: datetime) -> float:
        span = (self.end - self.start) / timedelta(microseconds=1)
        share = ((at - self.start) / timedelta(microseconds=1)) / span
        return self.box.left + share * (self.box.right - self.box.left)

    def y(self, ms: float) -> float:
        share = min(max(ms / self.top_ms, 0.0), 1.0)
        return self.box.bottom - share * (self.box.bottom - self.box.top)


def _text(value: str) -> str:
    return str(escape(_NOT_XML.sub("\ufffd", value)))


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _finite(ms: float) -> bool:
    return math.isfinite(ms) and ms >= 0


def _describe(series: Sequence[Series], times: list[datetime], values: list[float]) -> str:
    where = "1 location" if len(series) == 1 else f"{len(series)} locations"
    if not times:
        return f"Response times in ms from {where}: no results in this period."
    text = (
        f"Response times in ms from {where}, "
        f"{min(times):%Y-%m-%d %H:%M} to {max(times):%Y-%m-%d %H:%M} UTC"
    )
    if values:
        text += f", from {_ms_label(min(values))} to {_ms_label(max(values))}"
    return text + "."


def _ms_label(ms: float) -> str:
    if ms >= 1000:
        return f"{round(ms / 1000, 3):g} s"
    return f"{round(ms, 3):g} ms"


def _ms_ticks(highest: float) -> list[float]:
    # About four steps of 1, 2, 2.5 or 5 times a power of ten, from 0 to just above the top.
    target = max(highest * 1.05, 1.0) / 4
    power = 10 ** math.floor(math.log10(target))
    step = next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= target)
    count = math.ceil(max(highest * 1.05, 1.0) / step)
    return [round(i * step, 9) for i in range(count + 1)]


def _time_step(span_s: float, width: int) -> int:
    most = max(2, width // 110)
    for step in _TIME_STEPS:
        if span_s / step <= most:
            return step
    return _WEEK * math.ceil(span_s / _WEEK / most)


def _y_axis(scale: _Scale, ticks: list[float]) -> str:
    box = scale.box
    parts = []
    for tick in ticks:
        y = scale.y(tick)
        parts.append(
            f'<line x1="{box.left}" x2="{box.right}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.12"/>'
            f'<text x="{box.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">'
            f"{_text(_ms_label(tick))}</text>"
        )
    return '<g class="y-axis">' + "".join(parts) + "</g>"


def _x_axis(scale: _Scale, width: int) -> str:
    box = scale.box
    span_s = (scale.end - scale.start).total_seconds()
    step = _time_step(span_s, width)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = math.ceil((scale.start - epoch).total_seconds() / step) * step
    parts = []
    tick = epoch + timedelta(seconds=first)
    while tick <= scale.end:
        x = scale.x(tick)
        midnight = tick.hour == 0 and tick.minute == 0
        label = (
            f"{tick:%d %b}" if midnight and (step >= 3600 or span_s > 86400) else f"{tick:%H:%M}"
        )
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{box.bottom}" y2="{box.bottom + 4}" '
            'stroke="currentColor" stroke-opacity="0.5"/>'
            f'<text x="{x:.1f}" y="{box.bottom + 16}" text-anchor="middle" fill="currentColor">'
            f"{_text(label)}</text>"
        )
        tick += timedelta(seconds=step)
    parts.append(
        # At the far left, under the ms labels, where no time label reaches.
        f'<text x="8" y="{box.bottom + 16}" fill="currentColor" opacity="0.6">UTC</text>'
    )
    return '<g class="x-axis">' + "".join(parts) + "</g>"


def _frame(box: _Box) -> str:
    return (
        f'<line x1="{box.left}" x2="{box.left}" y1="{box.top}" y2="{box.bottom}" '
        'stroke="currentColor" stroke-opacity="0.5"/>'
        f'<line x1="{box.left}" x2="{box.right}" y1="{box.bottom}" y2="{box.bottom}" '
        'stroke="currentColor" stroke-opacity="0.5"/>'
    )


def _threshold_lines(scale: _Scale, thresholds: Thresholds) -> list[str]:
    box = scale.box
    parts = []
    for name, limit, colour in (
        ("degraded", thresholds.degraded_ms, DEGRADED_COLOUR),
        ("failing", thresholds.failing_ms, FAILING_COLOUR),
    ):
        if limit is None:
            continue
        y = scale.y(limit)
        label = f"{name} {_ms_label(limit)}"
        parts.append(
            f'<g class="threshold threshold-{name}">'
            f'<line x1="{box.left}" x2="{box.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1" stroke-dasharray="6 4"/>'
            f'<text x="{box.right - 4}" y="{y - 4:.1f}" text-anchor="end" fill="{colour}">'
            f"{_text(label)}</text></g>"
        )
    return parts


def _runs(points: Sequence[Point]) -> list[list[tuple[datetime, float]]]:
    # A point without a time (the run failed before measuring) breaks the line: a gap must
    # not be drawn as if the latency went smoothly from one side of it to the other.
    runs: list[list[tuple[datetime, float]]] = [[]]
    for at, ms in sorted(points, key=lambda point: _utc(point[0])):
        if ms is None or not _finite(ms):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((_utc(at), ms))
    return [run for run in runs if run]


def _series_lines(scale: _Scale, line: Series, colour: str) -> str:
    name = _text(line.name)
    parts = [f'<g class="series" aria-label="{name}">']
    for run in _runs(line.points):
        if len(run) == 1:
            (at, ms) = run[0]
            parts.append(
                f'<circle cx="{scale.x(at):.1f}" cy="{scale.y(ms):.1f}" r="2.5" '
                f'fill="{colour}"><title>{name}</title></circle>'
            )
            continue
        points = " ".join(f"{scale.x(at):.1f},{scale.y(ms):.1f}" for at, ms in run)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'stroke-linejoin="round" stroke-linecap="round"><title>{name}</title></polyline>'
        )
    parts.append("</g>")
    return "".join(parts)


def _shown_name(name: str) -> str:
    if len(name) <= _LEGEND_NAME_CHARS:
        return name
    return name[: _LEGEND_NAME_CHARS - 1] + "…"


def _legend_layout(names: list[str], width: int) -> list[tuple[float, int, str]]:
    # (x, row, shown name) per series, wrapping to a new row when the next one does not fit.
    layout: list[tuple[float, int, str]] = []
    x, row = float(_LEFT), 0
    for name in names:
        shown = _shown_name(name)
        item_width = 22 + len(shown) * _CHAR_WIDTH + 14
        if x > _LEFT and x + item_width > width - _RIGHT:
            x, row = float(_LEFT), row + 1
        layout.append((x, row, shown))
        x += item_width
    return layout


def _legend(
    layout: list[tuple[float, int, str]], series: Sequence[Series], top: float
) -> list[str]:
    parts = ['<g class="legend">']
    for index, ((x, row, shown), line) in enumerate(zip(layout, series, strict=True)):
        y = top + row * _LEGEND_ROW + 10
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f"<g><title>{_text(line.name)}</title>"
            f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
            f'stroke="{colour}" stroke-width="3"/>'
            f'<text x="{x + 22:.1f}" y="{y:.1f}" fill="currentColor">{_text(shown)}</text></g>'
        )
    parts.append("</g>")
    return parts
