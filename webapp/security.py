"""Security headers on every response, and the client's address and scheme behind trusted
reverse proxies."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy",
                                current_app.extensions.get("aiguillage.csp", CSP))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:  # over HTTPS (as the trusted proxy says, when there is one)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if not request.path.startswith(f"{current_app.static_url_path}/"):
        # Pages, case files and every export (CSV, circuit files) hold personal data: no copy
        # in the browser's or a proxy's cache. Only the static files may be cached.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the header hook; read X-Forwarded-For/-Proto/-Host from trusted proxies."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies,  # type: ignore[method-assign]
                                x_proto=proxies, x_host=proxies)
    issuer = urlsplit(str(app.config.get("OIDC_ISSUER") or ""))
    if issuer.scheme and issuer.netloc:
        # signing out (a form) is redirected to the provider to end its session there too
        app.extensions["aiguillage.csp"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}")
    app.after_request(_headers)
