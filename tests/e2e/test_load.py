"""Many users at once: 8 browser sessions drive every page for a minute (bench/load_test.py) against a
server started with the shared-host settings. No errors, no session sees another's text, the
server's memory stays bounded; the 95th percentile of interaction time goes to
``$MASKLAB_ARTIFACTS/load-test.json`` (unset: a temporary folder)."""

import json
from pathlib import Path

import pytest

from bench import load_test

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SESSIONS = 8
DURATION_S = 60
RSS_GROWTH_MB = 400  # caches are bounded (max_entries); 8 sessions' state and their cache entries fit well inside this


def test_eight_sessions_at_once(tmp_path, artifacts):
    if not Path(load_test.CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {load_test.CHROMIUM}: apt-get install -y chromium")
    models = tmp_path / "models"  # the random models only: the load, not whichever models are shipped or found today
    models.mkdir()
    result = load_test.run(sessions=SESSIONS, duration_s=DURATION_S, timeout_s=120, warm_up=True,
                           env={"MASKLAB_MODELS_DIR": str(models), "MASKLAB_FIND_PUBLISHED": "0", "OMP_NUM_THREADS": "1"}, log=artifacts / "load-test-streamlit.log")
    (artifacts / "load-test.json").write_text(json.dumps(result, indent=1))
    t, rss = result["interaction_s"], result["server_rss_mb"]
    print(f"\nload test: {SESSIONS} sessions, {result['interactions']} interactions in {result['elapsed_s']} s; interaction time "
          f"p50 {t['p50']} s, p95 {t['p95']} s, max {t['max']} s; server RSS {rss['before']} -> {rss['after']} MiB (peak {rss['peak']})")
    assert not result["errors"], result["errors"][:10]
    assert not result["crosstalk"], result["crosstalk"][:10]
    # every session opened its link and moved on at least once (on 2 busy cores an interaction can take 30 s)
    assert all(n >= 2 for n in result["interactions_per_session"]), result["interactions_per_session"]
    assert rss["growth"] < RSS_GROWTH_MB, rss
    assert t["p95"] == t["p95"]  # reported (a number, not NaN)
