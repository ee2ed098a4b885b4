"""The alert webhook: Slack-compatible JSON POSTed when an alert opens or closes.

Set by the server's operator, never by a user: ``DASHBOARD_ALERT_WEBHOOK=https://...`` (a
Slack incoming webhook, or anything taking ``{"text": "..."}``); ``DASHBOARD_PUBLIC_URL``
(the page's address, ``https://dash.example/dash/``) adds a link to the run. Unset: nothing
is sent.

Sending never touches the request or the watcher's pass: ``notify`` hands the messages to a
daemon thread and returns at once. Each POST has a short timeout and a few spaced retries
(``TIMEOUT_S``, ``RETRIES``, ``BACKOFF_S``), then is dropped with a log line; nothing ever
raises into the caller. The alert itself is in the store either way.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence

from tracking.alerts import Transition

log = logging.getLogger("tracking.webhook")

ENV = "DASHBOARD_ALERT_WEBHOOK"
PUBLIC_URL_ENV = "DASHBOARD_PUBLIC_URL"
TIMEOUT_S = 5.0
"""Seconds one POST may take: a webhook that answers slower is down for our purposes."""
RETRIES = 3
"""Tries after the first, for a refused connection, a timeout or a 5xx/429 answer."""
BACKOFF_S = 1.0
"""Wait before the first retry, doubled each time (1, 2, 4 s: the whole send is bounded)."""
MAX_MESSAGES = 20
"""Messages one pass sends at most; the rest are summed up in one line (a run that turns
NaN in every metric at once is one incident, not a hundred pings)."""


def url_from(env: Mapping[str, str]) -> str | None:
    """The webhook URL, or None when unset or not http(s) (logged: the operator's typo)."""
    url = env.get(ENV, "").strip()
    if not url:
        return None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        log.error("%s must be an http:// or https:// URL; alerts are not sent", ENV)
        return None
    return url


def run_link(public_url: str | None, run_id: str) -> str | None:
    """The page showing the run (``?run=<id>`` on the public URL), or None."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/?run={urllib.parse.quote(run_id)}"


def message(run_id: str, name: str, t: Transition, public_url: str | None) -> dict[str, str]:
    """``{"text": ...}`` for one alert opening or closing: run, kind, step, value, link."""
    icon = ":rotating_light:" if t.action == "open" else ":white_check_mark:"
    value = "" if math.isnan(t.value) and t.kind != "nan" else f", value {t.value:.4g}"
    head = (
        f"{icon} {name} ({run_id}): {t.kind.replace('_', ' ')} "
        f"{'opened' if t.action == 'open' else 'closed'} at step {t.step:,}{value}"
    )
    link = run_link(public_url, run_id)
    return {"text": f"{head}\n{t.text}" + (f"\n<{link}|open the run>" if link else "")}


def post(url: str, body: Mapping[str, str], timeout: float = TIMEOUT_S) -> None:
    """One POST; raises on a failure worth retrying (``OSError``, HTTP 429 or 5xx)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise
        log.warning("alert webhook refused a message (HTTP %s); not retried", exc.code)


def send(
    url: str,
    bodies: Sequence[Mapping[str, str]],
    *,
    retries: int = RETRIES,
    backoff: float = BACKOFF_S,
    timeout: float = TIMEOUT_S,
) -> int:
    """POST each body, retrying each a bounded number of times; how many were delivered.
    Never raises."""
    delivered = 0
    for body in bodies:
        for attempt in range(retries + 1):
            try:
                post(url, body, timeout)
                delivered += 1
                break
            except Exception as exc:  # the webhook's trouble is never the caller's
                if attempt == retries:
                    log.warning("alert webhook unreachable after %d tries: %s", retries + 1, exc)
                else:
                    time.sleep(backoff * 2**attempt)
    return delivered


def notify(
    run_id: str,
    name: str,
    transitions: Sequence[Transition],
    env: Mapping[str, str] | None = None,
) -> threading.Thread | None:
    """Send the transitions' messages from a daemon thread (returned, for tests to join);
    None when no webhook is set or there is nothing to send. Never raises."""
    try:
        env = os.environ if env is None else env
        url = url_from(env)
        if url is None or not transitions:
            return None
        public = env.get(PUBLIC_URL_ENV) or None
        bodies = [message(run_id, name, t, public) for t in transitions[:MAX_MESSAGES]]
        if len(transitions) > MAX_MESSAGES:
            more = len(transitions) - MAX_MESSAGES
            bodies.append({"text": f"{name} ({run_id}): {more} more alert changes not sent"})
        thread = threading.Thread(
            target=send, args=(url, bodies), name="alert-webhook", daemon=True
        )
        thread.start()
        return thread
    except Exception:  # pragma: no cover - a thread that cannot start: log, carry on
        log.exception("alert webhook not sent")
        return None
