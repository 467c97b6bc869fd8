"""README's main job with no hardware: posturepod demo, then posturepod info --json."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.usefixtures("micropython")


@pytest.mark.slow
def test_demo_20s_then_info_json(tmp_path):
    out = tmp_path / "X"
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "demo", "--seconds", "20",
                        "--out", str(out), "--no-live"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    # what a physio reads: the recording and the report, not clock offsets and latencies
    said = r.stdout + r.stderr
    assert "nothing lost" in said and "report:" in said, said
    assert "ppm" not in said and "offset" not in said and "latency" not in said, said
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "info", str(out), "--json"],
                       capture_output=True, text=True, timeout=60)
    d = json.loads(r.stdout)
    assert len(d["pods"]) == 3
    assert {p["role"] for p in d["pods"]} == {"pelvis", "thorax", "head"}
    for p in d["pods"]:
        expected = p["odr_hz"] * d["duration_s"]
        assert abs(p["samples"] - expected) <= 0.01 * expected, p
        assert p["seq_gaps"] == 0 and p["crc_errors"] == 0, p
        assert abs(p["samples"] - 100 * 20) <= 0.01 * 100 * 20, p
    assert 19.5 < d["duration_s"] < 20.5
    assert (out / "truth.json").exists()
