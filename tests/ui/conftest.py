"""Browser fixtures: a real headless Chromium on the Jaeger UI of the running stack.

The stack fixtures (`endpoints` starts the local stack when it is not up) are the
end-to-end tests'. Without a Chromium the browser tests are skipped, saying how to get
one; under CI (`CI=true`, as `.ci/run` runs) a missing Chromium fails instead, so CI can
never pass by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from stackctl.jaeger_ui import TRACE_VIEWPORT, JaegerUI, browser_page, find_chromium
from stackctl.settings import ROOT, Endpoints
from tests.e2e.conftest import endpoints, gateway, jaeger, user_id  # noqa: F401, F811

# (Above: the end-to-end tests' stack fixtures; `endpoints` starts the local stack if it
# is not up, and stops it at the end.)

REPORTS = ROOT / "reports" / "ui"


@pytest.fixture(scope="session")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        message = ("no Chromium: install Debian's `chromium` (sudo apt-get install chromium) "
                   "or set CHROMIUM=/path/to/chrome")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests (.ci/run installs it)")
        pytest.skip(message)
    return found


@pytest.fixture
def ui(chromium: str, endpoints: Endpoints,  # noqa: F811
       request: pytest.FixtureRequest) -> Iterator[JaegerUI]:
    """The Jaeger UI in a fresh browser; its last view is saved as reports/ui/<test>.png,
    pass or fail, so a failure shows what the browser showed."""
    with browser_page(TRACE_VIEWPORT) as page:
        view = JaegerUI(page, endpoints.jaeger)
        try:
            yield view
        finally:
            view.shot(REPORTS / f"{request.node.name}.png")
