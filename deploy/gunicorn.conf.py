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

# gthread with 2 threads per process, measured with benchmarks/load_nginx.py --phase steady
# (200 tabs ticking once a second through nginx on 2 workers, 2026-11-29; tick p99 in ms, one
# figure per run; "+N renders": N more tabs re-render a paused 1M-step run every 2 s):
#   threads   ticks only                 +2 renders     +4 renders
#   1         36 (44 *)                  -              900 (822 *)
#   2         33, 36                     67, 53         79 (382 in a noisier run)
#   4         36, 59, 182, 249, 395      178, 122       80, 71 (100)
#   (* without nginx's upstream keepalive)
# One thread queues every request on its connections behind a 0.1-0.5 s render. Four let a
# tick share the GIL with a render too, but threads contending for the GIL cost CPU (6.8 ms
# per tick against 5.0 ms with one thread, in back-to-back runs) and the load spreads
# unevenly: nginx's kept-alive connections stay on the worker that accepted them, and one
# worker ran at 87% while the other sat at 53%. Two keep a tick from waiting out a render at
# the least cost. Two runs per cell on a shared, noisy machine: change this only with new
# figures from that script.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))

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
    # The heavy-work helper starts now, beside the worker, not on a user's first redraw.
    from callbacks import limits

    limits.work(worker.wsgi).warm()
