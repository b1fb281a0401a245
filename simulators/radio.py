"""A telemetry radio's channel, for the fault proxy: airtime, latency, burst loss, fades, drops.

SiK-type 433/915 MHz radios (RFD900, 3DR/Holybro) are what rangers upload over at the roadside.
What they do to MAVLink, and what this model plays:

- **bandwidth**: every byte costs 10 bits of airtime at the air rate (start and stop bits of the
  serial framing; SiK's own packet framing is folded into that figure);
- **half duplex**: one channel for both directions, so a telemetry stream coming down takes
  airtime from the items going up (SiK's TDM shares one frequency between the two radios);
- **latency**: 50-200 ms per frame, never reordering (a serial link delivers in order);
- **burst loss**: a Gilbert-Elliott channel, a "good" and a "bad" state with their own loss
  rates, drawn per frame, so losses come in runs as behind trees or a truck;
- **fades**: every frame lost for seconds (behind a ridge), at random or at scripted times;
- **a bounded buffer**: frames that find the radio's buffer full are dropped;
- **RADIO_STATUS** once a second, from the local radio (system 51 '3', component 68 'D');
- **drops**: the connection closes, as a USB radio pulled out, and opens again later.

Everything random comes from one seeded generator, so a failing run repeats.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from uav.errors import SimulatorError

BITS_PER_BYTE = 10  # 8N1 serial framing
RADIO_SYSTEM_ID, RADIO_COMPONENT_ID = 51, 68  # SiK firmware's '3' and 'D'


@dataclass(frozen=True)
class RadioModel:
    """How one radio link behaves.  Times are seconds from the proxy's start.

    Attributes
    ----------
    baud : int
        Air data rate in bits per second (SiK's default 57600; long range 19200).
    half_duplex : bool
        Both directions share the airtime.
    latency_s : tuple of float
        Smallest and largest extra delay per frame (uniform between them).
    loss_good, loss_bad : float
        Frame loss probability in the Gilbert-Elliott good and bad states.
    good_to_bad, bad_to_good : float
        Per-frame probabilities of switching state (the bad state lasts 1 / bad_to_good
        frames on average).
    fade_every_s : tuple of float or None
        Random fades start this many seconds apart (uniform between the two); None: none.
    fade_length_s : tuple of float
        How long a random fade lasts (uniform between the two).
    fades : tuple of (start_s, length_s)
        Scripted fades.
    drops : tuple of (at_s, down_s)
        Scripted link drops: at ``at_s`` the connection closes; new connections are refused
        for ``down_s`` seconds (a radio unplugged, then plugged back in).
    buffer_bytes : int
        The radio's buffer per direction: a frame that would overflow it is dropped.
    status_hz : float
        RADIO_STATUS messages per second to the ground station (0: none).
    """

    baud: int = 57600
    half_duplex: bool = True
    latency_s: tuple[float, float] = (0.05, 0.20)
    loss_good: float = 0.0
    loss_bad: float = 0.0
    good_to_bad: float = 0.0
    bad_to_good: float = 1.0
    fade_every_s: tuple[float, float] | None = None
    fade_length_s: tuple[float, float] = (2.0, 8.0)
    fades: tuple[tuple[float, float], ...] = ()
    drops: tuple[tuple[float, float], ...] = ()
    buffer_bytes: int = 4096
    status_hz: float = 1.0

    def check(self) -> None:
        """Raise SimulatorError naming the first setting that makes no sense."""
        if self.baud <= 0:
            raise SimulatorError(f"radio baud must be > 0, got {self.baud}")
        for name in ("loss_good", "loss_bad", "good_to_bad", "bad_to_good"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise SimulatorError(f"radio {name} must be a probability 0..1, got {p}")
        lo, hi = self.latency_s
        if not 0 <= lo <= hi:
            raise SimulatorError(f"radio latency_s must be (min, max) with 0 <= min <= max, "
                                 f"got {self.latency_s}")
        if self.fade_every_s is not None and not 0 < self.fade_every_s[0] <= self.fade_every_s[1]:
            raise SimulatorError(f"radio fade_every_s must be (min, max) > 0, "
                                 f"got {self.fade_every_s}")
        if self.buffer_bytes < 300:
            raise SimulatorError("radio buffer_bytes must hold at least one MAVLink frame "
                                 f"(300 bytes), got {self.buffer_bytes}")

    @property
    def mean_loss(self) -> float:
        """Long-run frame loss outside fades (the chain's stationary mix of the two states)."""
        total = self.good_to_bad + self.bad_to_good
        bad = self.good_to_bad / total if total else 0.0
        return (1 - bad) * self.loss_good + bad * self.loss_bad


# Burst loss averaging ~9 % of frames: 2 % in the good state, 60 % in runs of ~4 frames.
_SIK = RadioModel(loss_good=0.02, loss_bad=0.6, good_to_bad=0.03, bad_to_good=0.25)
PRESETS: dict[str, RadioModel] = {
    "sik-57600": _SIK,
    "sik-19200": replace(_SIK, baud=19200),
    # the field case: 2-8 s fades every 15-40 s on top of the burst loss
    "sik-57600-fades": replace(_SIK, fade_every_s=(15.0, 40.0)),
    "sik-19200-fades": replace(_SIK, baud=19200, fade_every_s=(15.0, 40.0)),
}


def radio_model(spec: str | RadioModel, **changes) -> RadioModel:
    """A preset by name (``sik-57600``…) or a model, with ``changes`` applied; checked."""
    if isinstance(spec, RadioModel):
        model = spec
    else:
        model = PRESETS.get(spec)
        if model is None:
            raise SimulatorError(f"unknown radio {spec!r}; use one of {', '.join(PRESETS)}")
    model = replace(model, **changes) if changes else model
    model.check()
    return model


@dataclass
class RadioChannel:
    """The state of one radio link: airtime booked, loss state, fades.  Not thread-safe: the
    proxy's one loop thread drives it."""

    model: RadioModel
    rng: random.Random
    start: float
    bad: bool = False
    free_at: dict = field(default_factory=dict)  # airtime key -> when the air is free
    last_delivery: dict = field(default_factory=dict)  # direction -> last delivery time
    counters: dict = field(default_factory=lambda: dict(faded=0, lost=0, overflow=0,
                                                        airtime_s=0.0))
    _fade_windows: list = field(default_factory=list)
    _next_fade: float | None = None

    def __post_init__(self):
        self._fade_windows = [(self.start + a, self.start + a + n) for a, n in self.model.fades]
        if self.model.fade_every_s is not None:
            self._next_fade = self.start + self.rng.uniform(*self.model.fade_every_s)

    def in_fade(self, now: float) -> bool:
        """Whether every frame is being lost at ``now`` (random fades are drawn as time
        passes, so the schedule does not depend on traffic)."""
        m = self.model
        while self._next_fade is not None and self._next_fade <= now:
            length = self.rng.uniform(*m.fade_length_s)
            self._fade_windows.append((self._next_fade, self._next_fade + length))
            self._next_fade += length + self.rng.uniform(*m.fade_every_s)
        self._fade_windows = [w for w in self._fade_windows if w[1] > now - 60]
        return any(a <= now < b for a, b in self._fade_windows)

    def fades_so_far(self) -> list[tuple[float, float]]:
        """The fades drawn so far, as (start, length) seconds from the proxy's start."""
        return [(a - self.start, b - a) for a, b in self._fade_windows]

    def send(self, direction: str, size: int, now: float) -> float | None:
        """Book airtime for a frame of ``size`` bytes going ``direction``; return when it
        arrives at the other end, or None if the radio lost it."""
        m = self.model
        # the Gilbert-Elliott state moves once per frame, faded or not
        if self.bad:
            self.bad = self.rng.random() >= m.bad_to_good
        else:
            self.bad = self.rng.random() < m.good_to_bad
        loss = m.loss_bad if self.bad else m.loss_good
        lost = self.rng.random() < loss
        latency = self.rng.uniform(*m.latency_s)
        key = "air" if m.half_duplex else direction
        free = max(now, self.free_at.get(key, now))
        backlog = (free - now) * m.baud / BITS_PER_BYTE
        if backlog + size > m.buffer_bytes:
            self.counters["overflow"] += 1
            return None
        airtime = size * BITS_PER_BYTE / m.baud
        self.free_at[key] = free + airtime
        self.counters["airtime_s"] += airtime
        if self.in_fade(free):
            self.counters["faded"] += 1
            return None
        if lost:
            self.counters["lost"] += 1
            return None
        arrive = max(free + airtime + latency, self.last_delivery.get(direction, 0.0))
        self.last_delivery[direction] = arrive
        return arrive

    def rssi(self, now: float) -> int:
        """A SiK-like RSSI byte: weak in the bad state, nothing in a fade."""
        if self.in_fade(now):
            return 0
        return 90 if self.bad else 160
