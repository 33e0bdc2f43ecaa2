"""Response headers every page and API answer carries: a strict Content-Security-Policy (no inline script or
style, no framing), nosniff, a referrer policy, and HSTS in production."""

from __future__ import annotations

from flask import Flask, Response

#: Everything comes from this site; Swagger UI's own files are served from /api/v1/docs/assets/.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    production = app.config["PROFILE"] == "production"

    @app.after_request
    def secure_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP level 2
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
