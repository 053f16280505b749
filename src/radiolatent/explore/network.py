"""Where the explorer listens and whom it answers (docs/explore.md): loopback only unless
the user passes --allow-remote, loopback Host names only (no DNS rebinding), no
state-changing request from another origin; the listening socket and uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from radiolatent.core.errors import InputError, SettingError

#: Host header values accepted when serving on loopback only.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """True for 'localhost' and any loopback IP address (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to serve other machines unless the user asked for it explicitly."""
    if not allow_remote and not is_loopback(host):
        raise SettingError(
            "host",
            f"'{host}' is not a loopback address; the explorer serves this machine only "
            "unless you add {allow_remote} (anyone who can reach the port can label sources)",
            ("allow_remote",),
        )


async def same_origin_writes(request: Request, call_next):
    """Refuse POSTs a page from another origin sends (a browser always names its Origin)."""
    origin = request.headers.get("origin")
    cross_origin = origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")
    if request.method not in ("GET", "HEAD") and cross_origin:
        return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
    return await call_next(request)


class BodyLimit:
    """Refuse a request body over `limit(path)` bytes with 413, before the app sees it: by
    its Content-Length at once, or, for a body sent in chunks, as soon as it passes the
    limit. The body is never echoed back."""

    def __init__(self, app, limit):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            return await too_large(limit)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        return await self.app(scope, counted, send)


def too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or InputError saying why not (port in use, no
    such address). Binding comes first so the address is announced only once it serves."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        reason = "port already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise InputError(f"{host}:{port}", f"cannot listen ({reason})") from None


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Run the app with uvicorn on a socket from `bind` until interrupted."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
