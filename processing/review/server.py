"""The review page's local web server (standard library only).

It serves the page (its static files bundled with the package), a small JSON API over one
flight GeoPackage, and images of that flight's frames.  Safety rules it keeps:

* Files: only the five bundled page files, and frame images looked up **by frame id** in the
  GeoPackage (never by a path taken from the request), plus thumbnails/crops it made itself and
  the pictures of the flight's mosaic and base map (their files named by the GeoPackage or the
  command line).
* State changes (decisions) are POST with a JSON body only; GET on them answers 405.  A JSON
  content type is required, so a plain HTML form on another site cannot post a decision.
* The Host header must name a loopback address when the server listens on loopback, which stops
  DNS-rebinding pages from talking to it; a decision whose Origin header names another site is
  refused (403), also when the server listens on the network.
* Every answer carries a strict Content-Security-Policy (no inline script, nothing from the
  network), ``X-Content-Type-Options: nosniff`` and no-referrer; the page itself only ever puts
  metadata into the DOM as text.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from uav.errors import FrameError, InvalidInputError, ReviewConflictError, UavError

from ..store.images import ImageCache
from ..store.read import DECISIONS, FlagNotFoundError, FlagQuery, FlightDB, SightingQuery
from .base_map import BaseMapLayer
from .coords import radio_position
from .mosaic_layer import MosaicLayer

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The only static files served: request path -> (file name, content type).
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/sightings.js": ("sightings.js", "text/javascript; charset=utf-8"),
    "/picture.js": ("picture.js", "text/javascript; charset=utf-8"),
    "/mosaic.js": ("mosaic.js", "text/javascript; charset=utf-8"),
    "/basemap.js": ("basemap.js", "text/javascript; charset=utf-8"),
    "/list.js": ("list.js", "text/javascript; charset=utf-8"),
    "/decisions.js": ("decisions.js", "text/javascript; charset=utf-8"),
    "/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
    "/map.js": ("map.js", "text/javascript; charset=utf-8"),
    "/keys.js": ("keys.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
MAX_BODY = 64 * 1024
REVIEWER_MAX = 100
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


class ApiError(Exception):
    """An error answered to the client as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str, extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


@dataclass
class _Route:
    pattern: re.Pattern
    methods: dict  # method -> handler name


def _r(path: str, **methods) -> _Route:
    return _Route(re.compile("^" + path + "$"), methods)


ROUTES = [
    _r(r"/api/flight", GET="api_flight"),
    _r(r"/api/frames", GET="api_frames"),
    _r(r"/api/track", GET="api_track"),
    _r(r"/api/markers", GET="api_markers"),
    _r(r"/api/flags", GET="api_flags"),
    _r(r"/api/sightings", GET="api_sightings"),
    _r(r"/api/sightings/markers", GET="api_sighting_markers"),
    _r(r"/api/sightings/(\d+)", GET="api_sighting"),
    _r(r"/api/sightings/(\d+)/decision", POST="api_decide_sighting"),
    _r(r"/api/sightings/(\d+)/flags/(\d+)/decision", POST="api_decide_flag_of_sighting"),
    _r(r"/api/flags/(\d+)", GET="api_flag"),
    _r(r"/api/flags/(\d+)/decision", POST="api_decide"),
    _r(r"/api/flags/(\d+)/crop", GET="img_crop"),
    _r(r"/api/frames/(\d+)", GET="api_frame"),
    _r(r"/api/frames/(\d+)/thumb", GET="img_thumb"),
    _r(r"/api/frames/(\d+)/image", GET="img_view"),
    _r(r"/api/mosaic", GET="api_mosaic"),
    _r(r"/api/mosaic/image", GET="img_mosaic"),
    _r(r"/api/base-map", GET="api_base_map"),
    _r(r"/api/base-map/image", GET="img_base_map"),
]


def _int_param(qs: dict, name: str, default: int | None) -> int | None:
    if name not in qs or qs[name][0] == "":
        return default
    try:
        return int(qs[name][0])
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be a whole number, got {qs[name][0]!r}") from None


def _float_param(qs: dict, name: str) -> float | None:
    if name not in qs or qs[name][0] == "":
        return None
    try:
        return float(qs[name][0])
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be a number, got {qs[name][0]!r}") from None


def _public(flag: dict) -> dict:
    """A flag as the page sees it: no server paths (the page names frames by file name)."""
    flag.pop("frame_path", None)
    return flag


def _with_position(flag: dict) -> dict:
    _public(flag)
    if flag.get("lat") is not None and flag.get("lon") is not None:
        flag["position"] = radio_position(flag["lat"], flag["lon"]).as_dict()
    else:
        flag["position"] = None
    return flag


class ReviewHandler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "amur-uav-review"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # -- plumbing ------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # quiet unless asked: the CLI prints the address only
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _security_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")

    def _send(self, status: int, body: bytes, ctype: str, cache: str = "no-store", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self._security_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None):
        body = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers=headers)

    def _file(self, path: Path, ctype: str | None = None, cache: str = "private, max-age=300"):
        ctype = ctype or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        body = path.read_bytes()
        self._send(200, body, ctype, cache=cache)

    def _check_host(self):
        if not self.server.loopback_only:
            return
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name.lower() not in LOOPBACK_NAMES:
            raise ApiError(421, f"this review server answers only to loopback addresses, not to Host {host!r}")

    def _dispatch(self, method: str):
        try:
            self._check_host()
            path = urlsplit(self.path).path
            if method in ("GET", "HEAD") and path in STATIC_FILES:
                name, ctype = STATIC_FILES[path]
                return self._file(STATIC_DIR / name, ctype, cache="no-cache")
            for route in ROUTES:
                m = route.pattern.match(path)
                if not m:
                    continue
                want = "GET" if method == "HEAD" else method
                handler = route.methods.get(want)
                if handler is None:
                    allowed = ", ".join(sorted(route.methods))
                    raise ApiError(405, f"{method} is not allowed on {path}; use {allowed}",
                                   headers={"Allow": allowed})
                return getattr(self, handler)(*(int(g) for g in m.groups()))
            if path in STATIC_FILES:
                raise ApiError(405, f"{method} is not allowed on {path}; use GET", headers={"Allow": "GET"})
            raise ApiError(404, f"nothing here: {path}")
        except ApiError as e:
            self._json(e.status, {"error": e.message, **e.extra}, headers=e.headers)
        except FlagNotFoundError as e:
            self._json(404, {"error": str(e)})
        except FrameError as e:
            self._json(404, {"error": str(e)})
        except InvalidInputError as e:
            self._json(400, {"error": str(e)})
        except UavError as e:
            log.error("review request failed: %s", e)
            self._json(500, {"error": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # keep serving; the analyst sees a message, the log the traceback
            log.exception("review request %s %s failed", method, self.path)
            self._json(500, {"error": "internal error in the review server (see its console)"})

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._dispatch("GET")

    def do_HEAD(self):  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def do_PATCH(self):  # noqa: N802
        self._dispatch("PATCH")

    def do_OPTIONS(self):  # noqa: N802  (a CORS preflight gets a plain 405: no cross-site access)
        self._dispatch("OPTIONS")

    @property
    def db(self) -> FlightDB:
        return self.server.db

    def _query(self) -> dict:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def _check_origin(self):
        """Refuse a decision sent by a page of another site (the browser names it in Origin)."""
        origin = self.headers.get("Origin")
        if origin is None:
            return  # not from a browser page (curl, scripts): nothing to check
        o = urlsplit(origin)
        host = (self.headers.get("Host") or "").strip().lower()
        if origin == "null" or o.scheme not in ("http", "https") or o.netloc.lower() != host:
            raise ApiError(403, f"decisions are accepted only from this review page, not from {origin!r}")

    def _read_json(self) -> dict:
        self._check_origin()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, f"send the decision as JSON (Content-Type: application/json), not {ctype or 'nothing'!r}")
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if length <= 0:
            raise ApiError(400, "the request body is empty; send a JSON object")
        if length > MAX_BODY:
            raise ApiError(413, f"request body too large ({length} bytes, limit {MAX_BODY})")
        raw = self.rfile.read(length)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return obj

    # -- API -----------------------------------------------------------------------------
    def api_flight(self):
        s = self.db.summary()
        s["reviewer"] = self.server.reviewer
        s["decisions"] = list(DECISIONS)
        self._json(200, s)

    def api_frames(self):
        self._json(200, self.db.frames_geojson())

    def api_track(self):
        self._json(200, self.db.track_geojson())

    def api_markers(self):
        self._json(200, {"columns": ["fid", "lon", "lat", "class", "status", "score"], "rows": self.db.markers()})

    def api_flags(self):
        qs = self._query()
        unknown = set(qs) - {"class", "status", "min_score", "max_score", "frame", "sort", "order", "offset", "limit"}
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        q = FlagQuery(
            cls=qs["class"][0] if qs.get("class", [""])[0] else None,
            status=qs["status"][0] if qs.get("status", [""])[0] else None,
            min_score=_float_param(qs, "min_score"),
            max_score=_float_param(qs, "max_score"),
            frame_fid=_int_param(qs, "frame", None),
            sort=qs.get("sort", ["score"])[0] or "score",
            order=qs.get("order", ["desc"])[0] or "desc",
            offset=_int_param(qs, "offset", 0),
            limit=_int_param(qs, "limit", 100),
        )
        page = self.db.list_flags(q)
        page["items"] = [_public(f) for f in page["items"]]
        self._json(200, page)

    def api_flag(self, fid: int):
        self._json(200, _with_position(self.db.flag(fid)))

    def api_frame(self, fid: int):
        fr = self.db.frame(fid)
        fr.pop("path", None)  # the page has no use for server paths
        fr["flags"] = [_public(f) for f in fr["flags"]]
        self._json(200, fr)

    def api_sightings(self):
        qs = self._query()
        unknown = set(qs) - {"class", "status", "min_score", "sort", "order", "offset", "limit"}
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        q = SightingQuery(
            cls=qs["class"][0] if qs.get("class", [""])[0] else None,
            status=qs["status"][0] if qs.get("status", [""])[0] else None,
            min_score=_float_param(qs, "min_score"),
            sort=qs.get("sort", ["score"])[0] or "score",
            order=qs.get("order", ["desc"])[0] or "desc",
            offset=_int_param(qs, "offset", 0),
            limit=_int_param(qs, "limit", 100),
        )
        page = self.db.list_sightings(q)
        for s in page["items"]:
            s["flags"] = [_public(f) for f in s["flags"]]
        self._json(200, page)

    def api_sighting_markers(self):
        self._json(200, {"columns": ["fid", "lon", "lat", "class", "status", "score", "frames_flagged"],
                         "rows": self.db.sighting_markers()})

    def _sighting_out(self, fid: int) -> dict:
        s = self.db.sighting(fid)
        s["flags"] = [_public(f) for f in s["flags"]]
        s["position"] = (radio_position(s["lat"], s["lon"]).as_dict()
                         if s["lat"] is not None and s["lon"] is not None else None)
        return s

    def api_sighting(self, fid: int):
        self._json(200, self._sighting_out(fid))

    def api_decide_sighting(self, fid: int):
        status, note, version, reviewer = self._decision_body("sighting")
        try:
            self.db.decide_sighting(fid, status, note, reviewer, version)
        except ReviewConflictError as e:
            raise ApiError(409, str(e), extra={"current": self._sighting_out(fid)}) from None
        self._json(200, self._sighting_out(fid))

    def api_decide_flag_of_sighting(self, fid: int, flag_fid: int):
        status, note, version, reviewer = self._decision_body("sighting")
        try:
            s = self.db.decide_flag_of_sighting(fid, flag_fid, status, note, reviewer, version)
        except ReviewConflictError as e:
            raise ApiError(409, str(e), extra={"current": self._sighting_out(fid)}) from None
        split_to = s.pop("split_to")
        out = self._sighting_out(fid)
        out["split_to"] = split_to
        self._json(200, out)

    def _decision_body(self, what: str = "flag"):
        body = self._read_json()
        unknown = set(body) - {"status", "note", "expected_version", "reviewer"}
        if unknown:
            raise ApiError(400, f"unknown field(s) in decision: {', '.join(sorted(unknown))}")
        status = body.get("status")
        if status not in DECISIONS:
            raise ApiError(400, f"'status' must be one of {', '.join(DECISIONS)}, got {status!r}")
        version = body.get("expected_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ApiError(400, f"'expected_version' must be the {what}'s version (a whole number >= 0) "
                                "as the page last saw it")
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            raise ApiError(400, "'note' must be text or null")
        note = (note or "").strip() or None
        reviewer = body.get("reviewer")
        if reviewer is not None and not isinstance(reviewer, str):
            raise ApiError(400, "'reviewer' must be text or null")
        reviewer = (reviewer or "").strip() or self.server.reviewer
        if reviewer and len(reviewer) > REVIEWER_MAX:
            raise ApiError(400, f"'reviewer' is longer than {REVIEWER_MAX} characters")
        return status, note, version, reviewer

    def api_decide(self, fid: int):
        status, note, version, reviewer = self._decision_body()
        try:
            flag = self.db.decide(fid, status, note, reviewer, version)
        except ReviewConflictError as e:
            current = _with_position(self.db.flag(fid))
            raise ApiError(409, str(e), extra={"current": current}) from None
        self._json(200, _with_position(flag))

    # -- images (looked up by id only) -----------------------------------------------------
    def img_thumb(self, fid: int):
        path, sha = self.db.frame_file(fid)
        self._file(self.server.images.thumbnail(fid, path, sha), "image/jpeg")

    def img_view(self, fid: int):
        path, sha = self.db.frame_file(fid)
        self._file(self.server.images.viewable(fid, path, sha))

    def img_crop(self, fid: int):
        flag = self.db.flag(fid)
        path, sha = self.db.frame_file(flag["frame_fid"])
        self._file(self.server.images.crop(flag, path, sha), "image/jpeg")

    # -- the flight's mosaic under the map (processing/review/mosaic_layer.py) --------------
    def api_mosaic(self):
        self._json(200, self.server.mosaic.info())

    def img_mosaic(self):
        if self.server.mosaic.path() is None:
            raise ApiError(404, "this flight has no mosaic yet (uav mosaic)")
        self._file(self.server.mosaic.overlay().png, "image/png")

    # -- the park's own map under it all (processing/review/base_map.py) ---------------------
    def api_base_map(self):
        self._json(200, self.server.base_map.info())

    def img_base_map(self):
        png = self.server.base_map.png()
        if png is None or not png.is_file():
            raise ApiError(404, "no base map is shown for this flight (uav review --base-map FILE)")
        self._file(png, "image/png")


class ReviewServer(ThreadingHTTPServer):
    """The review server of one flight.  Use :func:`serve` to make and start one."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, db: FlightDB, host: str, port: int, reviewer: str | None, verbose: bool = False,
                 mosaic=None, base_map: BaseMapLayer | None = None):
        self.db = db
        self.images = ImageCache(db.cache_dir)
        self.mosaic = MosaicLayer(db, mosaic)
        self.base_map = base_map or BaseMapLayer(db)
        self.reviewer = reviewer
        self.verbose = verbose
        self.loopback_only = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), ReviewHandler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def start(self) -> ReviewServer:
        # A short poll keeps close() quick; the idle cost is a few wake-ups a second.
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="uav-review", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(gpkg_path, host: str = "127.0.0.1", port: int = 0, reviewer: str | None = None,
          verbose: bool = False, mosaic=None, base_map=None) -> ReviewServer:
    """Serve the review page of one flight, in a background thread.

    Parameters
    ----------
    gpkg_path : str or Path
        The flight GeoPackage.
    host : str
        Address to listen on; loopback by default, so nothing outside this computer can reach it.
    port : int
        TCP port; 0 picks a free one (read it from ``server.url``).
    reviewer : str, optional
        Name recorded with each decision when the page does not send one.
    verbose : bool
        Log every request to stderr.
    mosaic : str or Path, optional
        The mosaic GeoTIFF to draw under the map (default: the one recorded in the flight).
    base_map : str or Path, optional
        A GeoTIFF or MBTiles of the park to draw under everything, recorded in the flight for the
        next review (default: the one recorded).  Checked before serving: a missing file, another
        kind of file, a map that misses the flight or lacks its zoom raise :class:`BaseMapError`.

    Returns
    -------
    ReviewServer
        Already serving; ``server.url`` is the page's address, ``server.close()`` stops it.
    """
    db = FlightDB(gpkg_path)
    layer = BaseMapLayer(db, base_map)
    try:
        layer.prepare()
        srv = ReviewServer(db, host, port, reviewer, verbose=verbose, mosaic=mosaic, base_map=layer)
    except UavError:
        db.close()
        raise
    except OSError as exc:
        db.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return srv.start()


__all__ = ["ApiError", "ReviewServer", "serve"]
