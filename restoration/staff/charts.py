"""Inline SVG bar charts for the staff pages: no JavaScript, no CDN."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD = 720, 180, 24
COLOURS = ("#2563eb", "#16a34a", "#dc2626", "#9333ea")


def bar_chart(labels: list[str], series: dict[str, list[float]], *, title: str) -> SafeString:
    """Grouped bars, one group per label, one bar per series; each bar has a <title> tooltip."""
    peak = max([v for values in series.values() for v in values] + [1])
    groups = max(len(labels), 1)
    group_w = (WIDTH - 2 * PAD) / groups
    bar_w = max(1.0, group_w * 0.8 / max(len(series), 1))
    parts = [
        # Not the dashboard's .chart, whose CSS fills every bar with one colour at a fixed height.
        f'<svg class="staff-chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT + 40}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" stroke="#9ca3af"/>',
    ]
    for s_index, (name, values) in enumerate(series.items()):
        colour = COLOURS[s_index % len(COLOURS)]
        for index, value in enumerate(values):
            height = (HEIGHT - PAD) * (max(value, 0) / peak)
            x = PAD + index * group_w + s_index * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{bar_w:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(labels[index])}: {escape(name)} {value:g}</title></rect>"
            )
        parts.append(
            f'<rect x="{PAD + s_index * 150}" y="{HEIGHT + 20}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{PAD + s_index * 150 + 14}" y="{HEIGHT + 29}" font-size="11">{escape(name)}</text>'
        )
    if labels:
        parts.append(f'<text x="{PAD}" y="{HEIGHT + 13}" font-size="10">{escape(labels[0])}</text>')
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT + 13}" font-size="10" text-anchor="end">{escape(labels[-1])}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
