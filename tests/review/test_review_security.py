"""The review server's safety: only the flight's own files, no state change by GET, clear 4xx
answers, version conflicts refused, metadata never executed as HTML in the page."""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlsplit

import pytest
from reviewflight import CHROMIUM_ARGS, EVIL_NAME, chromium_or_skip, make_flight, playwright_or_skip

from processing.review.server import serve
from uav.errors import FlightStoreError

EVIL_NOTE = '<script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">'


@pytest.fixture
def served(tmp_path):
    flight = make_flight(tmp_path)
    # A secret next to the flight, the kind of file traversal would go for.
    (tmp_path / "secret.txt").write_text("root:x:0:0:TOP-SECRET")
    srv = serve(flight.gpkg)
    try:
        yield flight, srv
    finally:
        srv.close()


def request(srv, method, path, body=None, headers=None, raw_body=None):
    u = urlsplit(srv.url)
    con = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        hdrs = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        con.putrequest(method, path, skip_accept_encoding=True, skip_host="Host" in hdrs)
        for k, v in hdrs.items():
            con.putheader(k, v)
        if data is not None:
            con.putheader("Content-Length", str(len(data)))
        con.endheaders(data)
        res = con.getresponse()
        payload = res.read()
        return res.status, dict(res.getheaders()), payload
    finally:
        con.close()


def error_of(payload: bytes) -> str:
    obj = json.loads(payload)
    assert set(obj) >= {"error"}
    return obj["error"]


@pytest.mark.parametrize("path", [
    "/../secret.txt",
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2Fsecret.txt",
    "/static/../server.py",
    "/app.js/../../server.py",
    "/..%2f..%2fsecret.txt",
    "/api/frames/1/image/../../../../secret.txt",
    "/api/frames/..%2f..%2fsecret.txt/image",
    "/api/frames/%2e%2e/image",
    "/api/frames/1%2f..%2f..%2fsecret.txt/image",
    "//etc/passwd",
    "/api/flags/1/crop?path=../../secret.txt",
])
def test_path_traversal_never_leaves_the_flight(served, path):
    _, srv = served
    status, headers, payload = request(srv, "GET", path)
    assert b"TOP-SECRET" not in payload and b"root:" not in payload
    assert b"import " not in payload  # no source file either
    if status == 200:
        # Only a query string that the route ignores may still answer: the crop itself.
        assert path.startswith("/api/flags/1/crop") and headers["Content-Type"] == "image/jpeg"
    else:
        assert status == 404, (path, status)
        assert error_of(payload).startswith("nothing here")


def test_frames_are_served_by_id_only(served):
    flight, srv = served
    status, headers, payload = request(srv, "GET", f"/api/frames/{flight.frame_fids[1]}/image")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert payload == flight.frames[1].read_bytes()
    status, _, payload = request(srv, "GET", "/api/frames/999/image")
    assert status == 404 and error_of(payload) == "this flight has no frame 999"
    # The frame API never hands out server paths.
    status, _, payload = request(srv, "GET", f"/api/frames/{flight.frame_fids[1]}")
    assert status == 200 and str(flight.frames[1].parent) not in payload.decode()


def test_missing_frame_file_is_a_clear_404(served):
    flight, srv = served
    flight.frames[2].unlink()
    fid = flight.frame_fids[2]
    for path in (f"/api/frames/{fid}/thumb", f"/api/frames/{fid}/image"):
        status, _, payload = request(srv, "GET", path)
        assert status == 404 and error_of(payload) == f"frame file is missing: {flight.frames[2]}"
    flag = next(f for f in json.loads(request(srv, "GET", f"/api/flags?frame={fid}")[2])["items"])
    status, _, payload = request(srv, "GET", f"/api/flags/{flag['fid']}/crop")
    assert status == 404 and "frame file is missing" in error_of(payload)


def test_security_headers_on_every_answer(served):
    _, srv = served
    for method, path in [("GET", "/"), ("GET", "/app.js"), ("GET", "/api/flags"), ("GET", "/nope"),
                         ("GET", "/api/frames/1/thumb"), ("POST", "/api/flags/1/decision")]:
        status, headers, _ = request(srv, method, path)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
    status, headers, _ = request(srv, "GET", "/app.js")
    assert headers["Content-Type"].startswith("text/javascript")


def test_state_changes_are_never_get(served):
    flight, srv = served
    fid = flight.flag_fids[0]
    status, headers, payload = request(srv, "GET", f"/api/flags/{fid}/decision?status=confirmed&expected_version=0")
    assert status == 405 and headers["Allow"] == "POST"
    assert "GET is not allowed" in error_of(payload)
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        status, _, payload = request(srv, method, f"/api/flags/{fid}")
        assert status == 405 and f"{method} is not allowed" in error_of(payload)
    status, _, _ = request(srv, "POST", "/api/flags")
    assert status == 405
    status, _, payload = request(srv, "GET", f"/api/flags/{fid}")
    assert json.loads(payload)["status"] == "new"


def test_bad_decisions_get_clear_4xx(served):
    flight, srv = served
    fid = flight.flag_fids[0]
    ok = {"status": "confirmed", "expected_version": 0, "note": None}
    cases = [
        ("/api/flags/424242/decision", ok, None, 404, "this flight has no flag 424242"),
        (f"/api/flags/{fid}/decision", {**ok, "status": "approved"}, None, 400, "'status' must be one of"),
        (f"/api/flags/{fid}/decision", {**ok, "expected_version": "0"}, None, 400, "'expected_version' must be"),
        (f"/api/flags/{fid}/decision", {**ok, "note": 12}, None, 400, "'note' must be text"),
        (f"/api/flags/{fid}/decision", {**ok, "fid": 3}, None, 400, "unknown field(s) in decision: fid"),
        (f"/api/flags/{fid}/decision", [1, 2], None, 400, "must be a JSON object"),
        (f"/api/flags/{fid}/decision", None, b"{not json", 400, "not valid JSON"),
        (f"/api/flags/{fid}/decision", None, b"", 400, "body is empty"),
        (f"/api/flags/{fid}/decision", {**ok, "note": "x" * 5000}, None, 400, "keep it under 4000"),
    ]
    for path, body, raw, want, text in cases:
        status, _, payload = request(srv, "POST", path, body=body, raw_body=raw,
                                     headers={"Content-Type": "application/json"})
        assert status == want, (path, body, raw, status, payload)
        assert text in error_of(payload)
    # A form post from another site (text/plain or urlencoded) is refused before anything is read.
    status, _, payload = request(srv, "POST", f"/api/flags/{fid}/decision", raw_body=b"status=confirmed",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and "Content-Type: application/json" in error_of(payload)
    # Query parameters are checked too.
    for q, text in [("sort=fid;drop", "cannot sort flags by"), ("limit=100000", "limit <= 500"),
                    ("min_score=high", "'min_score' must be a number"), ("status=done", "unknown flag status"),
                    ("evil=1", "unknown query parameter(s): evil")]:
        status, _, payload = request(srv, "GET", "/api/flags?" + q)
        assert status == 400 and text in error_of(payload), q
    # Nothing above changed the flag.
    status, _, payload = request(srv, "GET", f"/api/flags/{fid}")
    assert json.loads(payload)["version"] == 0


def test_version_conflict_is_409(served):
    flight, srv = served
    fid = flight.flag_fids[1]
    status, _, payload = request(srv, "POST", f"/api/flags/{fid}/decision",
                                 body={"status": "confirmed", "expected_version": 0, "reviewer": "tab A"})
    assert status == 200 and json.loads(payload)["version"] == 1
    status, _, payload = request(srv, "POST", f"/api/flags/{fid}/decision",
                                 body={"status": "rejected", "expected_version": 0, "reviewer": "tab B"})
    assert status == 409
    obj = json.loads(payload)
    assert re.search(r"flag \d+ was changed by someone else", obj["error"])
    assert obj["current"]["status"] == "confirmed" and obj["current"]["reviewer"] == "tab A"
    assert obj["current"]["version"] == 1


def test_foreign_host_header_is_refused(served):
    _, srv = served
    status, _, payload = request(srv, "GET", "/api/flight", headers={"Host": "evil.example:80"})
    assert status == 421 and "loopback" in error_of(payload)


def test_decision_from_another_site_is_refused(served):
    flight, srv = served
    fid = flight.flag_fids[0]
    body = {"status": "confirmed", "expected_version": 0}
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{urlsplit(srv.url).port + 1}"):
        status, _, payload = request(srv, "POST", f"/api/flags/{fid}/decision", body=body,
                                     headers={"Origin": origin})
        assert status == 403, origin
        assert error_of(payload) == f"decisions are accepted only from this review page, not from {origin!r}"
    status, _, payload = request(srv, "GET", f"/api/flags/{fid}")
    assert json.loads(payload)["version"] == 0
    # The page's own origin is fine.
    status, _, _ = request(srv, "POST", f"/api/flags/{fid}/decision", body=body,
                           headers={"Origin": srv.url.rstrip("/")})
    assert status == 200


def test_thumbnails_are_made_once_next_to_the_flight_and_frames_stay_untouched(served):
    flight, srv = served
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in flight.frames}
    cache = flight.gpkg.with_name(flight.gpkg.name + ".cache")
    fid = flight.frame_fids[1]
    status, headers, first = request(srv, "GET", f"/api/frames/{fid}/thumb")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    thumbs = list((cache / "thumbs").glob(f"{fid}-*.jpg"))
    assert len(thumbs) == 1 and thumbs[0].read_bytes() == first
    made = thumbs[0].stat().st_mtime_ns
    status, _, again = request(srv, "GET", f"/api/frames/{fid}/thumb")
    assert status == 200 and again == first and thumbs[0].stat().st_mtime_ns == made  # served from the cache
    status, _, _ = request(srv, "GET", f"/api/flags/{flight.flag_fids[2]}/crop")
    assert status == 200 and len(list((cache / "crops").glob("*.jpg"))) == 1
    for p, (data, mtime) in before.items():
        assert p.read_bytes() == data and p.stat().st_mtime_ns == mtime, f"{p} was modified"
    assert sorted(p.name for p in flight.frames[0].parent.iterdir()) == sorted(p.name for p in flight.frames)


def test_not_a_flight_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.gpkg"
    bogus.write_text("hello")
    with pytest.raises(FlightStoreError, match="is not a GeoPackage"):
        serve(bogus)
    with pytest.raises(FlightStoreError, match="flight GeoPackage not found"):
        serve(tmp_path / "missing.gpkg")


def test_html_in_names_and_notes_is_inert_in_the_page(served):
    flight, srv = served
    exe = chromium_or_skip()
    sync_playwright = playwright_or_skip()
    fid = flight.flag_fids[0]  # on the frame whose file name is HTML
    status, _, _ = request(srv, "POST", f"/api/flags/{fid}/decision",
                           body={"status": "uncertain", "expected_version": 0, "note": EVIL_NOTE,
                                 "reviewer": "<b>bold</b>"})
    assert status == 200
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(srv.url)
            page.wait_for_selector("body[data-ready='1']", timeout=15000)
            # the sightings list shows the same names as text too (the crops' titles)
            assert EVIL_NAME in page.locator("li.sighting-row .crops img").first.get_attribute("title")
            page.click("#mode-flags")  # the per-flag list, one click away
            page.locator(f"li.flag-row[data-fid='{fid}']").click()
            page.wait_for_selector(f"#detail[data-loaded='{fid}']", timeout=10000)
            page.locator("#history-box summary").click()
            # Shown literally, as text...
            assert EVIL_NAME in page.locator(f"li.flag-row[data-fid='{fid}']").text_content()
            assert EVIL_NAME in page.locator("#frame-title").text_content()
            assert EVIL_NOTE in page.locator("#history").text_content()
            assert page.locator("#note").input_value() == EVIL_NOTE
            assert "<b>bold</b>" in page.locator("#flag-facts").text_content()
            # ...and never turned into elements or run.
            assert page.locator("img[src='x']").count() == 0
            assert page.locator("#detail script, #flag-list script, #detail b").count() == 0
            assert page.evaluate("typeof window.__pwned") == "undefined"
        finally:
            browser.close()


def test_cli_review_binds_loopback_and_prints_the_address(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    flight = make_flight(tmp_path, n_frames=2, evil_name=False)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from uav.cli import main; sys.exit(main())", "review", str(flight.gpkg), "--reviewer", "Ivanova"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()
        assert first.startswith("Reviewing flight.gpkg: 3 flags on 2 frames (3 not yet reviewed)"), first
        line = proc.stdout.readline()
        m = re.match(r"Open (http://127\.0\.0\.1:(\d+)/) in a browser", line)
        assert m, line
        with urllib.request.urlopen(m.group(1) + "api/flight", timeout=10) as r:
            body = json.loads(r.read())
        assert body["reviewer"] == "Ivanova" and body["flags"]["total"] == 3
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Stopped." in out
