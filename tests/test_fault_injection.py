"""Kills at random points of every stage leave each workspace as before or as after (``tests/fault_injection.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_two_hundred_random_kills_leave_every_workspace_as_before_or_as_after(tmp_path):
    workers = max(1, min(4, os.cpu_count() or 1))
    proc = subprocess.run([sys.executable, str(HERE / "fault_injection.py"), "--kills", "200", "--workers",
                           str(workers), "--dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert result["kills"] == 200
    killed = sum(n for how, n in result["outcomes"].items() if how != "exit 0")
    assert killed >= 150, f"most runs must really be interrupted: {result['outcomes']}"
    assert result["failures"] == [], json.dumps(result["failures"][:3], indent=1)
