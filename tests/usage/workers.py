"""Real Celery workers (subprocesses) against Redis and the test database, for tests that need
the production path: a task published to the broker, taken by another process, committed there.

The workers run `config.settings.test`, so a task *they* queue (the leaderboard refresh, cap
evaluation after an import) runs eagerly inside them; only `usage.tasks.*` go through Redis, to
a queue of the test's own that no other worker on the same Redis can take.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("CELERY_BROKER_URL", "")


def broker_reachable() -> str | None:
    """None when a Redis broker answers, else why a worker test cannot run."""
    if not BROKER.startswith("redis://"):
        return "CELERY_BROKER_URL is not set to a redis:// URL (the suite runs tasks eagerly)"
    import redis

    try:
        redis.Redis.from_url(BROKER, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {BROKER} does not answer: {exc}"
    return None


def worker_database_url() -> str:
    """The test database (test_<name>), as a URL a worker process can be given."""
    s = connection.settings_dict
    host = s["HOST"] or ""
    if host.startswith("/"):  # a unix socket (the embedded server)
        return f"postgresql://{quote(s['USER'] or '')}:@/{s['NAME']}?host={quote(host)}"
    return f"postgresql://{quote(s['USER'] or '')}:{quote(s['PASSWORD'] or '')}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class Workers:
    queue: str
    names: list[str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)

    def output(self) -> str:
        """What every worker printed so far (for a failure message)."""
        parts = []
        for name, log in zip(self.names, self.logs, strict=True):
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- {name} ---\n{text.strip() or '(nothing)'}")
        return "\n".join(parts)


@contextmanager
def celery_workers(count: int = 1, *, ready_timeout: float = 60) -> Iterator[Workers]:
    """Start `count` workers (`--pool solo --concurrency 1`: one task at a time, one reserved) on
    one fresh queue, route `usage.tasks.*` to it, wait until every worker answers a ping, and
    stop them all (a warm shutdown: a running task finishes) on the way out.

    The caller skips first when `broker_reachable()` gives a reason, and needs
    `transactional_db`: the workers only see what this process has committed.
    """
    queue = f"test-ingest-{uuid.uuid4().hex[:8]}"
    names = [f"w{i}-{queue}" for i in range(1, count + 1)]
    env = {**os.environ, "DATABASE_URL": worker_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    logdir = Path(tempfile.mkdtemp(prefix="tb-workers-"))
    workers = Workers(queue=queue, names=[f"{name}@{socket.gethostname()}" for name in names])
    old = (celery_app.conf.task_always_eager, celery_app.conf.task_routes)
    try:
        for name in names:
            log = logdir / f"{name}.log"
            workers.logs.append(log)
            command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-n", f"{name}@%h"]
            command += ["--pool", "solo", "--concurrency", "1", "--without-gossip", "--without-mingle", "-l", "warning"]
            with log.open("w") as out:
                workers.procs.append(
                    subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
                )
        # update(), not attribute assignment: only update() makes Celery drop its cached router,
        # which would otherwise send a second test's tasks to the first test's (dead) queue.
        celery_app.conf.update(task_always_eager=False, task_routes={"usage.tasks.*": {"queue": queue}})
        _wait_ready(workers, ready_timeout)
        yield workers
    finally:
        celery_app.conf.update(task_always_eager=old[0], task_routes=old[1])
        for proc in workers.procs:
            proc.terminate()
        for proc in workers.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for log in workers.logs:
            log.unlink(missing_ok=True)
        logdir.rmdir()
        _forget_queue(queue)


def _forget_queue(queue: str) -> None:
    """The private queue leaves nothing in Redis: messages nobody took (a failed test), its binding."""
    import redis

    redis.Redis.from_url(BROKER).delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def _wait_ready(workers: Workers, timeout: float) -> None:
    """Every worker consumes the queue once it answers a ping: then the tasks spread over them all."""
    deadline, waiting = time.monotonic() + timeout, set(workers.names)
    while waiting:
        if not workers.alive():
            raise RuntimeError(f"a worker exited while starting:\n{workers.output()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers {sorted(waiting)} did not answer in {timeout} s:\n{workers.output()}")
        for reply in celery_app.control.ping(destination=sorted(waiting), timeout=1.0):
            waiting -= set(reply)
