"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py app:server``.

Runs behind nginx (deploy/nginx.conf), which buffers slow clients, compresses and caches;
gunicorn only runs Python. Values marked "env" can be overridden from the environment, and
any setting from the command line (``--bind``, ``--workers``), which gunicorn ranks above
this file.
"""

from __future__ import annotations

import os
from typing import Any

# env GUNICORN_BIND. Loopback: only nginx talks to gunicorn.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# env WEB_CONCURRENCY. One process per core available to us. A callback is CPU work under
# the GIL (numpy, then JSON-encoding a figure), so only processes run callbacks in parallel;
# more processes than cores just take turns and multiply memory. Measured 2026-11-28 with
# benchmarks/bench_gunicorn_memory.py (2 workers, 20 page/layout/dependency loads): a worker
# is 56-66 MiB resident, of which only 3 MiB is its own while fresh and 35 MiB after serving
# (USS; the rest is shared with the master through preload_app, 71 MiB resident). So one
# worker per core costs well under 100 MiB of RAM per core. The server holds no per-user
# state, so any worker answers any request, and more hosts behind nginx scale further.
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))

# gthread: a few threads per process. While one thread computes a figure, the others answer
# the cheap requests (status ticks, layout, health checks) instead of queueing them behind
# it; a sync worker would queue them. Four threads is a judgement, not a measurement: nginx
# buffers slow clients, so no thread waits on a network, and more threads only add GIL
# contention. The load script of issue 7 (200 sessions through nginx on 2 workers) is where
# this choice is measured; change it only with its p50/p99 figures in hand.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Every callback's work is bounded by design (the simulator caps steps per request); 30 s is
# far above the slowest and still restarts a worker that is truly stuck.
timeout = 30
graceful_timeout = 20

# Longer than nginx's upstream keepalive_timeout (60 s): the upstream side must never close
# a kept-alive connection that nginx is about to reuse, which would surface as a 502.
keepalive = 75

# Recycle workers now and then to bound any slow growth in memory, jittered so that they do
# not all restart at the same moment.
max_requests = 5000
max_requests_jitter = 500

# Import the app once in the master, then fork: workers start fast and share pages, and an
# import error fails the start instead of looping worker restarts.
preload_app = True

# The heartbeat file on tmpfs where there is one: a slow disk must not look like a hung worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Trust X-Forwarded-* headers only from nginx on this host.
forwarded_allow_ips = "127.0.0.1"

accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
proc_name = "llm-training-dashboard"

# gunicorn 27 opens a control socket at one fixed default path, so a second instance on the
# host (make serve beside a test run, two deployments) fails to start. Nothing here uses it.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Let Dash finish wiring this worker before it accepts a connection.

    Dash copies the app's callbacks in on a worker's first request, after marking that done;
    with threads, requests racing that first one found no callbacks: 7 of 192 concurrent
    callbacks to 2 fresh workers were refused (400), in every fresh worker (start, a killed
    worker's replacement, max_requests recycling). One request here, through Flask's test
    client, does the wiring before any client can arrive.
    """
    prefix = (
        os.environ.get("DASH_ROUTES_PATHNAME_PREFIX")
        or os.environ.get("DASH_URL_BASE_PATHNAME")
        or "/"
    )
    status = worker.wsgi.test_client().get(f"{prefix}healthz").status_code
    worker.log.info("worker %s wired (healthz %s)", worker.pid, status)
