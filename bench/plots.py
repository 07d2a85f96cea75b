"""The scale bench's results (``bench.scale``): each figure as a table row, the JSON file, and the plots
of lateness and memory against job count.

    .venv/bin/python -m bench.plots docs/bench-scale.json docs/   # plots again from a results file
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measured figure: ours, the raw anchor where one exists, the goal and whether it was met."""

    figure: str
    count: int
    ours: float | None
    unit: str
    goal: str
    met: bool | None
    raw: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    load: tuple[float, float, float] = field(default_factory=os.getloadavg)
    """``uptime``'s load averages (1, 5, 15 min) when the figure was taken: the machine is shared."""

    @property
    def ratio(self) -> float | None:
        return None if self.ours is None or not self.raw else self.ours / self.raw


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def print_figure(f: Figure) -> None:
    ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
    met = {True: "yes", False: "NO", None: ""}[f.met]
    print(f"| {f.figure:52} | {f.count:>6} | {_fmt(f.ours):>8} {f.unit:8} | {_fmt(f.raw):>8} | {ratio:>6} | "
          f"{f.goal:14} | {met:3} | load {f.load[0]:.2f} {f.load[1]:.2f} {f.load[2]:.2f}", flush=True)  # fmt: skip


def record(figures: list[Figure]) -> list[dict[str, Any]]:
    return [{**f.__dict__, "ratio": f.ratio} for f in figures]


def _series(runs: list[dict[str, Any]], prefix: str, side: str = "ours") -> tuple[list[int], list[float]]:
    """(counts, values) of the figures named ``prefix...`` in runs with the embedded default config;
    ``side``: ``ours`` or ``raw``."""
    points = sorted(
        (int(f["count"]), float(f[side]))
        for run in runs
        if not run.get("overrides")
        for f in run["figures"]
        if str(f["figure"]).startswith(prefix) and f[side] is not None
    )
    return [c for c, _ in points], [v for _, v in points]


def plot(runs: list[dict[str, Any]], folder: Path) -> list[Path]:
    """``bench-scale-memory.png``, ``-lateness``, ``-cpu``, ``-sqlite`` and ``-dispatch`` in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    charts = {
        "memory": ("RSS (MB) against job count", "MB", [
            ("1 worker RSS", "worker, N one-off jobs pending"), ("1 server RSS", "server, N one-off jobs pending"),
            ("4 worker RSS", "worker, N recurring jobs"), ("4 server RSS", "server, N recurring jobs")]),
        "lateness": ("'None lost' batch (min(N, 2000) due over a minute, N pending): lateness", "s", [
            ("2 none lost: lateness p50", "p50"), ("2 none lost: lateness p99", "p99")]),
        "cpu": ("Idle CPU with N recurring jobs (% of one core)", "% core", [
            ("4 server idle CPU", "server"), ("4 worker idle CPU", "worker")]),
        "sqlite": ("SQLite file growth per one-off job (sqlite + wal)", "bytes/job", [
            ("1 SQLite bytes per job", "ours (start and first workflow task)"),
            ("1 SQLite bytes per job|raw", "raw start_workflow, same request (start only)")]),
        "dispatch": ("Dispatch rate, N one-off jobs", "jobs/s", [
            ("1 dispatch", "ours: processor.job.schedule"), ("1 dispatch|raw", "raw start_workflow, same request")]),
    }  # fmt: skip
    written = []
    for name, (title, unit, lines) in charts.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        for line, label in lines:
            prefix, _, side = line.partition("|")
            xs, ys = _series(runs, prefix, side or "ours")
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
        if name == "memory":
            ax.axhline(150, color="grey", linestyle="--", label="worker goal 150 MB")
        if name == "cpu":
            ax.axhline(10, color="grey", linestyle="--", label="server goal 10%")
        ax.set_xscale("log")
        ax.set_xlabel("jobs (N)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = folder / f"bench-scale-{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


if __name__ == "__main__":
    loaded = [run for name in sys.argv[1:-1] for run in json.loads(Path(name).read_text())["runs"]]
    for written_path in plot(loaded, Path(sys.argv[-1])):
        print(written_path)
