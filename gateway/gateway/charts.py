"""Server-side SVG charts for the overview: no CDN, no script."""
from markupsafe import Markup, escape

from common.money import format_amount


def bar_chart(days, series, width=720, height=200, title=""):
    """Grouped bars per day. `series`: [(label, css class, [values per day])]."""
    count = max(len(days), 1)
    top = max([max(values, default=0) for _, _, values in series] + [1])
    slot, pad, bottom = width / count, 2, height - 20
    bar = max((slot - pad) / max(len(series), 1), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">']
    for index, day in enumerate(days):
        for number, (label, css, values) in enumerate(series):
            value = values[index]
            h = (value / top) * (bottom - 10)
            x = index * slot + number * bar
            parts.append(f'<rect class="{css}" x="{x:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}"><title>{escape(day)} {escape(label)}: '
                         f'{format_amount(value)} €</title></rect>')
    parts += _axis(days, width, height, bottom)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(days, values, width=720, height=200, title=""):
    """One line, the value of each day (cents)."""
    low, high = min(values, default=0), max(values, default=0)
    span, bottom = (high - low) or 1, height - 20
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{bottom - (v - low) / span * (bottom - 10):.1f}"
                      for i, v in enumerate(values))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<polyline class="line" fill="none" points="{points}"/>',
             f'<text x="4" y="12" class="label">{format_amount(high)} €</text>',
             f'<text x="4" y="{bottom - 4}" class="label">{format_amount(low)} €</text>']
    parts += _axis(days, width, height, bottom)
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis(days, width, height, bottom):
    marks = [f'<line class="axis" x1="0" y1="{bottom}" x2="{width}" y2="{bottom}"/>']
    if days:
        marks.append(f'<text class="label" x="0" y="{height - 4}">{escape(days[0])}</text>')
        marks.append(f'<text class="label" x="{width}" y="{height - 4}" text-anchor="end">'
                     f'{escape(days[-1])}</text>')
    return marks


def daily_balances(days, statement):
    """The closing balance of each day, from a statement covering them."""
    balance, by_day = statement["opening_balance"], {}
    for entry in statement["entries"]:
        by_day[entry["date"]] = entry["balance"]
    closing = []
    for day in days:
        balance = by_day.get(day, balance)
        closing.append(balance)
    return closing
