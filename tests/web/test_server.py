from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from telematics.settings import Settings
from web.migrate import upgrade_store
from web.server import make_server


def test_waitress_serves_the_site(settings: Settings) -> None:
    upgrade_store(settings.store_url)
    server = make_server(settings, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert json.load(response) == {"status": "ok", "store": "ok"}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/alerts", timeout=5)
        assert refused.value.code == 401
        with urllib.request.urlopen(f"{base}/alerts", timeout=5) as response:
            assert response.headers["Server"] == "truckguard"
    finally:
        server.close()
        thread.join(5)
    assert not thread.is_alive()
