"""Charts drawn on the server as SVG: no JavaScript, no chart library, readable on any laptop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640


def _svg(height: int, body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bar_chart(items: Sequence[tuple[str, int]], title: str) -> Markup:
    """Horizontal bars, one per item, with its value at the end."""
    row, left, right = 30, 130, 70
    height = max(1, len(items)) * row + 10
    top = max((value for _, value in items), default=0) or 1
    body: list[str] = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * row
        width = round((WIDTH - left - right) * value / top)
        body.append(
            f'<text x="{left - 8}" y="{y + 18}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar-stage" x="{left}" y="{y + 4}" width="{max(width, 1)}" height="20" />'
            f'<text x="{left + width + 6}" y="{y + 18}">{value}</text>'
        )
    return _svg(height, body, title)


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # line-<css> and dot-<css> classes in style.css
    values: Sequence[int]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    title: str,
    value_format: Callable[[int], str] = str,
) -> Markup:
    """Lines over shared x labels; the y axis starts at zero and shows its maximum."""
    peak = max((v for s in series for v in s.values), default=0) or 1
    # Room for the longest y label ("$ 362.093.333" needs more than a count does).
    widest = max(len(value_format(peak)), len(value_format(0)))
    height, left, right, top_pad, bottom = 240, max(50, 16 + 7 * widest), 20, 28, 40
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * (i / (n - 1)) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top_pad + plot_h - plot_h * v / peak

    body = [
        f'<line class="grid" x1="{left}" y1="{top_pad}" x2="{WIDTH - right}" y2="{top_pad}" />',
        f'<line class="axis" x1="{left}" y1="{top_pad + plot_h}" x2="{WIDTH - right}" '
        f'y2="{top_pad + plot_h}" />',
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{escape(value_format(peak))}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h + 4}" text-anchor="end">'
        f"{escape(value_format(0))}</text>",
    ]
    if n == 0:
        body.append(
            f'<text x="{WIDTH / 2}" y="{top_pad + plot_h / 2}" text-anchor="middle">'
            "Sin datos todavía</text>"
        )
    step = max(1, n // 6)
    for i in range(0, n, step):
        body.append(
            f'<text x="{x(i):.1f}" y="{height - 18}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    for k, s in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        if len(s.values) > 1:
            body.append(f'<polyline class="line-{s.css}" points="{points}" />')
        for i, v in enumerate(s.values):
            body.append(f'<circle class="dot-{s.css}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" />')
        lx = left + k * 170
        body.append(
            f'<rect class="dot-{s.css}" x="{lx}" y="6" width="12" height="12" />'
            f'<text x="{lx + 18}" y="16">{escape(s.name)}</text>'
        )
    return _svg(height, body, title)
