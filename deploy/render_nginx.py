"""Render deploy/nginx.conf for one run: ``python deploy/render_nginx.py PREFIX [options]``.

Writes PREFIX/nginx.conf with the @...@ placeholders filled in and creates the folders
nginx writes to (logs/, tmp/), so ``nginx -p PREFIX -c PREFIX/nginx.conf`` runs as any user
and leaves nothing outside PREFIX. Plain text substitution, not ``string.Template``: nginx
variables are written ``$name`` too. Used by ``make serve`` and tests/deploy/.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"
OUTAGE_PAGE = Path(__file__).resolve().parent / "outage.html"
MIME_TYPES = "/etc/nginx/mime.types"
REALM = "LLM Training Dashboard"


def auth_basic(auth_file: str | None) -> str:
    """The directives that ask for a login from ``auth_file`` (htpasswd), or a comment."""
    if not auth_file:
        return "# no auth_basic (render_nginx.py --auth-file PATH adds it)"
    if not os.path.isabs(auth_file):
        raise ValueError(f"the htpasswd file must be an absolute path: {auth_file!r}")
    return f'auth_basic "{REALM}"; auth_basic_user_file {auth_file};'


def real_ip(trusted_proxies: list[str] | tuple[str, ...] = ()) -> str:
    """The realip directives that believe X-Forwarded-For from these networks only, or a
    comment when there are none (then nothing a client sends changes its address)."""
    if not trusted_proxies:
        return "# no trusted proxy (render_nginx.py --trusted-proxy CIDR adds one)"
    lines = []
    for value in trusted_proxies:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"--trusted-proxy takes an address or a network like 10.0.0.0/8 or "
                f"fd00::/8 with no host bits set: {value!r} ({exc})"
            ) from None
        lines.append(f"set_real_ip_from {network};")
    lines += ["real_ip_header X-Forwarded-For;", "real_ip_recursive on;"]
    return "\n    ".join(lines)


def outage_page() -> tuple[str, str]:
    """deploy/outage.html as a quoted nginx string, and the CSP hash of its <style>."""
    html = OUTAGE_PAGE.read_text()
    if "$" in html or "<script" in html:
        raise ValueError(f"{OUTAGE_PAGE.name} must hold no '$' (nginx variables) and no script")
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    if len(styles) != 1:
        raise ValueError(f"{OUTAGE_PAGE.name} must have exactly one <style> block")
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    quoted = '"' + html.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return quoted, f"sha256-{digest}"


def render(
    listen: str,
    upstream: str,
    url_prefix: str = "/",
    mime_types: str = MIME_TYPES,
    auth_file: str | None = None,
    trusted_proxies: list[str] | tuple[str, ...] = (),
) -> str:
    """The config text for these addresses; raises ValueError on a malformed value."""
    if not url_prefix.startswith("/") or not url_prefix.endswith("/"):
        raise ValueError(f"url prefix must start and end with '/': {url_prefix!r}")
    for value in (listen, upstream, url_prefix, mime_types, auth_file or ""):
        if re.search(r"[\s;{}'\"$]", value):
            raise ValueError(f"refusing a value nginx would misread: {value!r}")
    if not re.fullmatch(r"/[A-Za-z0-9_./-]*", url_prefix):
        raise ValueError(f"url prefix may hold letters, digits and _ . - / only: {url_prefix!r}")
    page, style_hash = outage_page()
    values = {
        "LISTEN": listen,
        "UPSTREAM": upstream,
        "URL_PREFIX": url_prefix,
        "MIME_TYPES": mime_types,
        "AUTH_BASIC": auth_basic(auth_file),
        # unchecked without a login: any client could name itself in a Basic header
        "REMOTE_USER": "$remote_user" if auth_file else '""',
        "REAL_IP": real_ip(trusted_proxies),
        "OUTAGE_STYLE_HASH": style_hash,
        "OUTAGE_PAGE": page,
    }
    # Comment lines keep their placeholders: they document the template, and a value that
    # spans lines (the outage page, several trusted proxies) would break out of the comment.
    lines = TEMPLATE.read_text().splitlines(keepends=True)
    for index, line in enumerate(lines):
        if not line.lstrip().startswith("#"):
            for name, value in values.items():
                line = line.replace(f"@{name}@", value)
            lines[index] = line
    text = "".join(lines)
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    leftover = re.findall(r"@[A-Z_]+@", "\n".join(code))
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
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="CIDR",
        help="a proxy (address or network) whose X-Forwarded-For names the client, so the "
        "rate limits key on the client, not the proxy; repeatable; none by default",
    )
    args = parser.parse_args()
    conf = write(
        args.prefix,
        listen=args.listen,
        upstream=args.upstream,
        url_prefix=args.url_prefix,
        mime_types=args.mime_types,
        auth_file=args.auth_file,
        trusted_proxies=args.trusted_proxy,
    )
    print(conf)


if __name__ == "__main__":
    main()
