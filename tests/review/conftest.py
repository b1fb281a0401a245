"""The one headless Chromium the review page tests share (module scope: one launch per file)."""

import pytest
from reviewflight import CHROMIUM_ARGS, chromium_or_skip, playwright_or_skip


@pytest.fixture(scope="module")
def browser():
    exe = chromium_or_skip()
    sync_playwright = playwright_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
