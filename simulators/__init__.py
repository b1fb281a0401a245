"""Vehicles for rehearsal and tests: ArduPilot SITL launcher and the built-in copter."""
