"""Render deploy/nginx.conf for one run: ``python deploy/render_nginx.py PREFIX [options]``.

Writes PREFIX/nginx.conf with the @...@ placeholders filled in and creates the folders
nginx writes to (logs/, tmp/), so ``nginx -p PREFIX -c PREFIX/nginx.conf`` runs as any user
and leaves nothing outside PREFIX. Plain text substitution, not ``string.Template``: nginx
variables are written ``$name`` too. Used by ``make serve`` and tests/deploy/.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"
MIME_TYPES = "/etc/nginx/mime.types"
REALM = "LLM Training Dashboard"


def auth_basic(auth_file: str | None) -> str:
    """The directives that ask for a login from ``auth_file`` (htpasswd), or a comment."""
    if not auth_file:
        return "# no auth_basic (render_nginx.py --auth-file PATH adds it)"
    if not os.path.isabs(auth_file):
        raise ValueError(f"the htpasswd file must be an absolute path: {auth_file!r}")
    return f'auth_basic "{REALM}"; auth_basic_user_file {auth_file};'


def render(
    listen: str,
    upstream: str,
    url_prefix: str = "/",
    mime_types: str = MIME_TYPES,
    auth_file: str | None = None,
) -> str:
    """The config text for these addresses; raises ValueError on a malformed value."""
    if not url_prefix.startswith("/") or not url_prefix.endswith("/"):
        raise ValueError(f"url prefix must start and end with '/': {url_prefix!r}")
    for value in (listen, upstream, url_prefix, mime_types, auth_file or ""):
        if re.search(r"[\s;{}'\"$]", value):
            raise ValueError(f"refusing a value nginx would misread: {value!r}")
    text = TEMPLATE.read_text()
    for name, value in {
        "LISTEN": listen,
        "UPSTREAM": upstream,
        "URL_PREFIX": url_prefix,
        "MIME_TYPES": mime_types,
        "AUTH_BASIC": auth_basic(auth_file),
    }.items():
        text = text.replace(f"@{name}@", value)
    leftover = re.findall(r"@[A-Z_]+@", text)
    if leftover:
        raise ValueError(f"unfilled placeholders in {TEMPLATE.name}: {sorted(set(leftover))}")
    return text


def write(prefix: Path, **values: Any) -> Path:
    """Render into ``prefix/nginx.conf`` and create the folders nginx needs under it."""
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    # nginx started as root runs its workers as an unprivileged user, which must be able to
    # reach the temp folders under PREFIX.
    for path in (prefix, prefix / "tmp"):
        os.chmod(path, 0o755)
    conf = prefix / "nginx.conf"
    conf.write_text(render(**values))
    return conf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--upstream", default="127.0.0.1:8000")
    parser.add_argument("--url-prefix", default="/")
    parser.add_argument("--mime-types", default=MIME_TYPES)
    parser.add_argument(
        "--auth-file",
        default=None,
        help="absolute path of an htpasswd file: ask for a login on everything but healthz",
    )
    args = parser.parse_args()
    conf = write(
        args.prefix,
        listen=args.listen,
        upstream=args.upstream,
        url_prefix=args.url_prefix,
        mime_types=args.mime_types,
        auth_file=args.auth_file,
    )
    print(conf)


if __name__ == "__main__":
    main()
