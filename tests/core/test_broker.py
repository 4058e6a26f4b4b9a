"""A Celery worker outlives a restart of its Redis broker with a task in flight, and serves the next task
(fleet/core/broker.py). With kombu's own Redis transport the worker exits here ("Unrecoverable error:
AttributeError ... 'hostname'"), as two of the soak's workers did at its Redis restart.

Real processes: a private redis-server (bench/soak.py's, so it can be restarted), ``celery worker`` with the
prefork pool and two children as deployed, and the task in tests/core/broker_tasks.py."""

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "test-broker-restart"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture
def soak(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import soak

    return soak


@pytest.fixture
def redis_server(tmp_path, soak):
    """The soak's private redis-server (bench/soak.py ``Redis``: a free port, no persistence, restartable)."""

    server = soak.Redis(tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


@contextmanager
def worker(broker: str, tmp: Path, switches: list[str]):
    env = {**os.environ, "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker, "REDIS_URL": broker}
    env["DATABASE_URL"] = f"spatialite:///{tmp / 'unused.sqlite3'}"  # the task touches no database
    command = [sys.executable, "-m", "celery", "-A", "fleet", "worker", "-I", "tests.core.broker_tasks"]
    command += ["--pool=prefork", "--concurrency=2", "-Q", QUEUE, "-n", f"{QUEUE}@%h", "--loglevel=INFO"]
    command += switches  # the Procfile worker's (bench/soak.py worker_switches)
    log = tmp / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def nap(broker: str, seconds: float, marker: str = "", timeout: float = 60):
    """Send the task through a client of its own (as a web process would) and wait for its result."""
    client = Celery(broker=broker, backend=broker)
    try:
        return client.send_task("tests.nap", args=(seconds, marker), queue=QUEUE).get(timeout=timeout)
    finally:
        client.close()


def test_a_worker_outlives_a_redis_restart_with_a_task_in_flight_and_serves_the_next(redis_server, soak, tmp_path):
    redis = redis_server
    switches = soak.worker_switches()
    assert "--without-gossip" in switches
    with worker(redis.url, tmp_path, switches) as (proc, log):
        assert nap(redis.url, 0) == "rested"  # up and consuming
        client = Celery(broker=redis.url, backend=redis.url)
        marker = tmp_path / "started"
        client.send_task("tests.nap", args=(6, str(marker)), queue=QUEUE)  # in flight, unacknowledged
        client.close()
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        redis.stop()
        time.sleep(1.0)  # the worker's consumer sees its connection drop with the task still running
        redis.start()
        time.sleep(8.0)  # past the task's end and the consumer's reconnect
        assert proc.poll() is None, log.read_text()[-4000:]
        assert nap(redis.url, 0) == "rested", log.read_text()[-4000:]  # and it consumes again
        text = log.read_text()
        assert "Unrecoverable error" not in text and "Connection to broker lost" in text, text[-4000:]
        assert "Error on restarting" not in text, text[-4000:]  # no step failed to restart (gossip did, with it on)
