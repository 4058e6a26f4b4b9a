"""The live-socket helpers of tests/live, including its private channel-layer prefix per test."""

from tests.live.conftest import private_channel_layer  # noqa: F401 (an autouse fixture, active here too)
