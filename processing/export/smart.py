"""SMART Connect incidents from reviewed flags.

Where the format comes from: SMART publishes no formal specification of Connect's data upload.
The layout below follows the issue's description and what public SMART client code sends to
Connect (a GeoJSON Feature per independent incident).  It has been checked against a fake server
in our tests, NOT against a real SMART Connect: before relying on it, export one incident, send
it to your park's Connect (or a test Conservation Area) and check it appears with the right
category, time and picture.  The file written by ``uav export --to smart`` is plain GeoJSON, so
it stays readable in QGIS whatever Connect makes of it.

The layout: ``geometry`` a Point (lon, lat); ``properties.dateTime`` the park's local time
(``YYYY-MM-DDTHH:MM:SS``); ``smartDataType: "incident"``; ``smartFeatureType: "waypoint/new"``;
and ``smartAttributes`` with an ``incidentUuid``, a ``comment``, ``observationGroups`` (each
observation: ``observationUuid``, ``category`` key, ``attributes``) and ``attachments``
(``filename`` + base64 ``data``).  Each feature is POSTed on its own to
``{server}/api/data/{conservation area uuid}``.

The UUIDs are derived (uuid5) from the frame's SHA-256, the class and the pixel box, so exporting
or sending the same flag twice names the same incident and observation: a re-export does not
create duplicates in the park's database, as long as Connect de-duplicates on those UUIDs (check
this once on yours too).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uav.errors import ExportError, FrameError, InvalidInputError

from ..store.images import ImageCache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MAPPING = Path(__file__).resolve().parent / "smart_mappings" / "land_of_the_leopard.toml"
# Fixed namespace of amur-uav SMART identifiers (uuid5 of the project's name).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "amur-uav.smart")
SMART_TIME = "%Y-%m-%dT%H:%M:%S"
OUR_VALUES = ("score", "frame_sha256", "note", "reviewer", "detector", "flag_id", "frame_name",
              "ground_size_m")


@dataclass
class SmartMapping:
    """Our classes -> the park's SMART category keys (and attribute keys for our values)."""

    park: str
    timezone: str
    ca_uuid: str | None
    classes: dict[str, dict]                     # class -> {"category": key, "attributes": {...}}
    attributes: dict[str, str] = field(default_factory=dict)  # our value name -> SMART attribute key
    default_category: str | None = None
    comment_prefix: str = "UAV flight"
    source: str = ""

    def category(self, cls: str) -> tuple[str, dict]:
        entry = self.classes.get(cls)
        if entry is not None:
            return entry["category"], dict(entry.get("attributes") or {})
        if self.default_category:
            return self.default_category, {}
        raise InvalidInputError(
            f"SMART mapping {self.source} has no category for flag class {cls!r} (it maps "
            f"{', '.join(sorted(self.classes)) or 'nothing'}); add a [classes.{cls}] section or a "
            "default_category under [park]")


def load_mapping(path=None) -> SmartMapping:
    """Read a SMART mapping file (TOML or JSON); the bundled Land of the Leopard one by default."""
    path = Path(path) if path is not None else DEFAULT_MAPPING
    if not path.is_file():
        raise InvalidInputError(f"SMART mapping file not found: {path}")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
        else:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"SMART mapping {path} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInputError(f"SMART mapping {path} must be a table/object at the top")
    park = raw.get("park") or {}
    classes = raw.get("classes") or {}
    if not isinstance(classes, dict) or not classes and not park.get("default_category"):
        raise InvalidInputError(f"SMART mapping {path} maps no class: add [classes.<name>] sections with a category")
    for cls, entry in classes.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("category"), str) or not entry["category"].strip():
            raise InvalidInputError(f"SMART mapping {path}: [classes.{cls}] needs a category = \"<SMART category key>\"")
        if not isinstance(entry.get("attributes", {}), dict):
            raise InvalidInputError(f"SMART mapping {path}: [classes.{cls}] attributes must be a table of key = value")
    attrs = raw.get("attributes") or {}
    unknown = set(attrs) - set(OUR_VALUES)
    if unknown:
        raise InvalidInputError(f"SMART mapping {path}: [attributes] names unknown value(s) {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(OUR_VALUES)}")
    tz = park.get("timezone") or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"SMART mapping {path}: unknown time zone {tz!r} (e.g. 'Asia/Vladivostok')") from None
    ca = (park.get("conservation_area_uuid") or "").strip() or None
    return SmartMapping(park=park.get("name", ""), timezone=tz, ca_uuid=ca, classes=classes,
                        attributes=dict(attrs), default_category=park.get("default_category"),
                        comment_prefix=park.get("comment_prefix", "UAV flight"), source=str(path))


def flag_uuids(flag: dict, sha256: str | None) -> tuple[str, str]:
    """(incident UUID, observation UUID) of a flag: the same flag always gets the same pair."""
    box = ",".join(f"{float(flag[c] or 0):.0f}" for c in ("px_x0", "px_y0", "px_x1", "px_y1"))
    anchor = sha256 or f"path:{flag['frame_path']}"
    key = f"{anchor}|{flag['cls']}|{box}"
    return str(uuid.uuid5(NAMESPACE, "incident|" + key)), str(uuid.uuid5(NAMESPACE, "observation|" + key))


def _local_time(t: str | None, tz: str) -> str | None:
    if not t:
        return None
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        # Processing writes times with a known offset as UTC ("Z"); a time without one is the
        # camera's own clock, which the pilot's phone sets to local time: keep it as it is.
        return dt.strftime(SMART_TIME)
    return dt.astimezone(ZoneInfo(tz)).strftime(SMART_TIME)


def _has_offset(t: str | None) -> bool:
    try:
        return bool(t) and datetime.fromisoformat(t.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def incident_feature(flag: dict, sha256: str | None, mapping: SmartMapping, flight: str,
                     attachment: tuple[str, bytes] | None = None) -> dict:
    """One SMART Connect incident (GeoJSON Feature) for one flag."""
    category, attrs = mapping.category(flag["cls"])
    ours = {"score": round(float(flag["score"]), 4), "frame_sha256": sha256, "note": flag["note"],
            "reviewer": flag["reviewer"], "detector": flag["detector"], "flag_id": flag["fid"],
            "frame_name": flag["frame_name"], "ground_size_m": flag["ground_size_m"]}
    for name, key in mapping.attributes.items():
        if ours.get(name) is not None:
            attrs[key] = ours[name]
    inc_uuid, obs_uuid = flag_uuids(flag, sha256)
    comment = (f"{mapping.comment_prefix} {flight}: {flag['cls']} (score {flag['score']:.2f}) in frame "
               f"{flag['frame_name']}, sha256 {sha256 or 'unknown'}; pixel box "
               + ", ".join(f"{float(flag[c] or 0):.0f}" for c in ("px_x0", "px_y0", "px_x1", "px_y1"))
               + f"; review: {flag['status']}" + (f" by {flag['reviewer']}" if flag["reviewer"] else "")
               + (f" - {flag['note']}" if flag["note"] else ""))
    return incident(inc_uuid, obs_uuid, category, attrs, comment, attachment,
                    _local_time(flag["time"], mapping.timezone), flag["lon"], flag["lat"])


def incident(inc_uuid: str, obs_uuid: str, category: str, attrs: dict, comment: str,
             attachment: tuple[str, bytes] | None, local_time: str | None, lon: float, lat: float) -> dict:
    """One SMART Connect incident feature (one observation, optional JPEG attachment): the
    envelope shared by the per-flag and the per-sighting exports."""
    smart_attrs = {
        "incidentUuid": inc_uuid,
        "incidentId": f"UAV-{inc_uuid[:8]}",
        "comment": comment,
        "observationGroups": [{"observations": [
            {"observationUuid": obs_uuid, "category": category, "attributes": attrs}]}],
        "attachments": [],
    }
    if attachment is not None:
        name, data = attachment
        smart_attrs["attachments"].append({"filename": name, "data": base64.b64encode(data).decode("ascii")})
    props = {"dateTime": local_time, "smartDataType": "incident",
             "smartFeatureType": "waypoint/new", "smartAttributes": smart_attrs}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_incidents(features: list[dict], url: str, ca_uuid: str, *, auth: tuple[str, str] | None = None,
                   token: str | None = None, timeout: float = 30.0, allow_insecure: bool = False) -> int:
    """POST each incident to ``{url}/api/data/{ca_uuid}``; returns how many the server accepted.

    Stops at the first refusal with an :class:`ExportError` that says which flag, what the server
    answered and how many went through before (re-sending is safe: the UUIDs are stable).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"SMART Connect URL must be http(s)://host[:port]/path, not {url!r}")
    if (auth or token) and parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure:
        raise InvalidInputError(f"refusing to send SMART credentials over plain http to {parts.hostname}; "
                                "use an https:// URL")
    try:
        uuid.UUID(ca_uuid)
    except (ValueError, TypeError):
        raise InvalidInputError(f"SMART Conservation Area UUID {ca_uuid!r} is not a UUID "
                                "(find it in SMART Connect under Conservation Areas)") from None
    endpoint = url.rstrip("/") + f"/api/data/{ca_uuid}"
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "amur-uav"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif auth:
        cred = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {cred}"
    sent = 0
    for feat in features:
        obs = feat["properties"]["smartAttributes"]["observationGroups"][0]["observations"][0]
        body = json.dumps(feat).encode("utf-8")
        req = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                res.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace").strip()
            hint = {401: " (check --smart-user/--smart-password or --smart-token)",
                    403: " (this account may not upload to that Conservation Area)",
                    404: f" (is {url} the Connect server's base URL, and {ca_uuid} its Conservation Area?)"}
            raise ExportError(
                f"SMART Connect refused incident {feat['properties']['smartAttributes']['incidentId']} "
                f"(observation {obs['observationUuid']}): HTTP {exc.code} {exc.reason}"
                f"{hint.get(exc.code, '')}; {sent} of {len(features)} sent before it"
                + (f"; server said: {detail}" if detail else "")) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ExportError(f"cannot reach SMART Connect at {endpoint}: {reason}; "
                              f"{sent} of {len(features)} incidents sent before it") from None
        sent += 1
    return sent


def write_and_send(feats: list[dict], out: Path, result, write, mapping: SmartMapping, *, url=None,
                   ca_uuid=None, auth=None, token=None, timeout=30.0, allow_insecure=False) -> None:
    """Write incident features to ``out`` (GeoJSON), record their ids, and POST them if ``url``.

    Shared by the per-flag and the per-sighting SMART exports: the file is written before any
    sending, so a refused upload still leaves the incidents on disk to send later.
    """
    doc = {"type": "FeatureCollection", "features": feats}
    write(out, lambda p: p.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8"))
    result.count = len(feats)
    result.uuids = [ft["properties"]["smartAttributes"]["observationGroups"][0]["observations"][0]["observationUuid"]
                    for ft in feats]
    if url:
        ca = ca_uuid or mapping.ca_uuid
        if not ca:
            raise InvalidInputError(f"to send to SMART Connect, give the Conservation Area UUID (--smart-ca) or set "
                                    f"conservation_area_uuid in {mapping.source}; the incidents are in {out}")
        result.posted = post_incidents(feats, url, ca, auth=auth, token=token, timeout=timeout,
                                       allow_insecure=allow_insecure)


def export_smart(db, flags, out: Path, result, ev, *, mapping_path=None, url=None, ca_uuid=None, auth=None,
                 token=None, attachments=True, timeout=30.0, allow_insecure=False) -> None:
    """Write SMART incidents to ``out`` (a GeoJSON FeatureCollection) and optionally POST them."""
    from .common import positioned as _positioned
    from .common import write_file as _write_atomic

    mapping = load_mapping(mapping_path)
    positioned = _positioned(flags, result)
    for f in positioned:  # fail on an unmapped class before writing anything
        mapping.category(f["cls"])
    clock = [f["fid"] for f in positioned if f["time"] and not _has_offset(f["time"])]
    if clock:
        result.warnings.append(f"{len(clock)} flag(s) come from frames whose time has no time zone (camera clock); "
                               f"SMART gets that time as it is, taken to be {mapping.timezone} local time")
    cache = ImageCache(db.cache_dir)
    feats = []
    for f in positioned:
        sha = ev.sha256(f)
        att = None
        if attachments:
            try:
                crop = cache.crop(f, Path(f["frame_path"]), f["frame_sha256"])
                att = (f"uav-flag-{f['fid']}-{Path(f['frame_name'] or 'frame').stem}.jpg", crop.read_bytes())
            except FrameError as exc:
                result.warnings.append(f"no picture attached to flag {f['fid']}: {exc}")
        feats.append(incident_feature(f, sha, mapping, db.path.name, att))
    write_and_send(feats, out, result, _write_atomic, mapping, url=url, ca_uuid=ca_uuid, auth=auth,
                   token=token, timeout=timeout, allow_insecure=allow_insecure)
