"""The weekly time-to-acknowledge chart (PNG), drawn with matplotlib's Agg renderer.

Uses matplotlib's object API (``Figure`` + the Agg canvas), never ``pyplot``:
no global state, no display, safe to call from a worker thread
(``asyncio.to_thread``), which is how the bot calls it so drawing never blocks
other chats. Median and 90th percentile per week, in minutes; the number of
reports each week is written under the axis.
"""

from __future__ import annotations

import io

from bot.review.stats import Stats


def render_png(st: Stats, title: str | None = None) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"{w.start.day} {w.start:%b}\n({w.reports})" for w in st.weeks]
    xs = list(range(len(st.weeks)))
    med = [w.ack.median.total_seconds() / 60 if w.ack.n else None for w in st.weeks]
    p90 = [w.ack.p90.total_seconds() / 60 if w.ack.n else None for w in st.weeks]
    pts = [(x, m, p) for x, m, p in zip(xs, med, p90) if m is not None]
    if pts:
        ax.plot([x for x, _, _ in pts], [p for _, _, p in pts], marker="o", color="#d62728",
                label="90th percentile")
        ax.plot([x for x, _, _ in pts], [m for _, m, _ in pts], marker="o", color="#1f77b4",
                label="median")
        ax.legend(loc="upper left")
        ax.set_ylim(bottom=0)
    else:
        ax.text(0.5, 0.5, "No acknowledged reports in this period", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlim(-0.5, max(len(xs) - 0.5, 0.5))
    ax.set_ylabel("minutes to acknowledge")
    ax.set_xlabel("week starting (reports that week)")
    ax.set_title(title or f"Time to acknowledge per week — {st.period.label}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
