"""The scale bench (``python -m bench.run --scale``) runs end to end at a tiny count and writes its
figures and plots: a broken bench is found here, not on the day of a long run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_scale_mode_writes_its_figures_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    command = [sys.executable, "-m", "bench.run", "--scale", "--scale-counts", "10", "--scale-figures", "counts",
               "--lost-jobs", "0", "--idle-seconds", "2", "--out", str(out), "--plots", str(tmp_path),
               "--server-config", "worker.schedulerNamespaceStartWorkflowRPS=400"]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, timeout=110, capture_output=True)
    (run,) = json.loads(out.read_text())["runs"]
    assert run["overrides"] == {"worker.schedulerNamespaceStartWorkflowRPS": 400}
    names = {f["figure"].split(" (")[0] for f in run["figures"]}
    assert {"1 dispatch N one-off jobs", "1 worker RSS, N one-off jobs pending",
            "4 server idle CPU, N recurring jobs"} <= names  # fmt: skip
    for f in run["figures"]:
        assert f["count"] == 10
        assert len(f["load"]) == 3
    dispatch = next(f for f in run["figures"] if f["figure"].startswith("1 dispatch"))
    assert dispatch["ours"] > 0
    assert dispatch["raw"] > 0
    idle = next(f for f in run["figures"] if f["figure"].startswith("4 server idle CPU"))
    assert idle["detail"]["registered"] == 10
    charts = ("cpu", "dispatch", "lateness", "memory", "sqlite")
    assert sorted(p.name for p in tmp_path.glob("bench-scale-*.png")) == [f"bench-scale-{c}.png" for c in charts]
