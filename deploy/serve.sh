#!/usr/bin/env bash
# The production stack on loopback, in the foreground (`make serve`):
#   gunicorn (deploy/gunicorn.conf.py) on 127.0.0.1:8000 <- nginx (deploy/nginx.conf) on 127.0.0.1:8080
# nginx runs from a scratch prefix, not as a system service; Ctrl-C stops both and cleans up.
# Override with LISTEN=127.0.0.1:9080 UPSTREAM=127.0.0.1:9000 deploy/serve.sh; arguments are
# passed to deploy/render_nginx.py (e.g. --auth-file /abs/htpasswd --trusted-proxy 10.0.0.5).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
LISTEN=${LISTEN:-127.0.0.1:8080}
UPSTREAM=${UPSTREAM:-127.0.0.1:8000}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

prefix=$(mktemp -d -t llm-dashboard-nginx.XXXXXX)
gunicorn_pid=""
nginx_pid=""
cleanup() {
    trap - EXIT INT TERM
    set +e
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    [ -n "$gunicorn_pid" ] && kill -TERM "$gunicorn_pid" 2>/dev/null && wait "$gunicorn_pid" 2>/dev/null
    rm -rf "$prefix"
}
trap cleanup EXIT INT TERM

# A port already taken (another `make serve`, a test) must stop us here: otherwise the health
# check below would find the other gunicorn and report a start that did not happen.
for addr in "$LISTEN" "$UPSTREAM"; do
    if ! problem=$("$PYTHON" -c 'import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
host = host.strip("[]")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((host, int(port)))
except (OSError, ValueError, OverflowError) as exc:
    sys.exit(str(exc))' "$addr" 2>&1); then
        echo "cannot listen on $addr ($problem): another make serve? stop it, or set LISTEN=/UPSTREAM=" >&2
        exit 1
    fi
done

"$PYTHON" deploy/render_nginx.py "$prefix" --listen "$LISTEN" --upstream "$UPSTREAM" "$@" >/dev/null
"$NGINX" -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"

GUNICORN_BIND="$UPSTREAM" "$PYTHON" -m gunicorn -c deploy/gunicorn.conf.py app:server &
gunicorn_pid=$!

healthy=""
for _ in $(seq 100); do
    if "$PYTHON" -c "import urllib.request as u; u.urlopen('http://$UPSTREAM/healthz', timeout=1)" 2>/dev/null; then
        healthy=1
        break
    fi
    kill -0 "$gunicorn_pid" 2>/dev/null || { echo "gunicorn failed to start" >&2; exit 1; }
    sleep 0.2
done
[ -n "$healthy" ] || { echo "gunicorn never answered http://$UPSTREAM/healthz" >&2; exit 1; }

"$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" -g 'daemon off;' &
nginx_pid=$!
echo "LLM Training Dashboard: http://$LISTEN/  (gunicorn on $UPSTREAM; nginx logs in $prefix/logs; Ctrl-C stops)"
wait -n "$gunicorn_pid" "$nginx_pid"
