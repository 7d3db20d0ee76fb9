"""Several people on SmolLM2 at once, the short version of ``python -m bench.real_load``: two browser
sessions, each with its own text, pick SmolLM2 on the masks page, move the window, and read its learned
map and every per-token loss; run one after another on a fresh server, then at once on another. What
each session saw at once must equal what it saw alone, and the concurrent server's peak memory stays
under the target (2.5 GB). The report goes to ``$MASKLAB_ARTIFACTS/real-load.json``."""

import json
from pathlib import Path

import pytest

from bench import load_test, real_load

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.shared,
    pytest.mark.skipif(not real_load.SMOL.is_dir(), reason=f"needs {real_load.SMOL} (../shared/models beside the checkout)"),
]


def test_sessions_on_a_real_model_at_once_see_what_each_sees_alone(artifacts):
    if not Path(load_test.CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {load_test.CHROMIUM}: apt-get install -y chromium")
    report = real_load.run(sessions=2, tokens=200, moves=2, timeout_s=240, log_dir=artifacts)
    (artifacts / "real-load.json").write_text(json.dumps(report, indent=1))
    print(f"\nreal-model load: {report['steps_read']} steps read, {report['alone_s']} s alone, {report['together_s']} s at once, "
          f"server peak {report['server_peak_mb']} MB")
    assert not report["errors"], report["errors"]
    assert not report["empty_reads"], report["empty_reads"]
    assert report["steps_read"] == 2 * (1 + 2 + 1)  # the first window, two moves, the losses page
    assert not report["differences"], report["differences"]
    assert report["server_peak_mb"]["together"] < real_load.TARGET_MB, report["server_peak_mb"]
