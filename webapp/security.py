"""HTTP hardening, set up once by create_app: security headers, login throttling, cookies.

- Headers (Flask-Talisman) on every response, pages and API alike: the CSP below,
  X-Frame-Options DENY (and CSP frame-ancestors 'none'), Referrer-Policy, nosniff,
  Permissions-Policy; HSTS only when PRODUCTION (and only on HTTPS requests).
- Throttling (Flask-Limiter, the `limiter` of extensions.py): the limits below, counted in
  REDIS_URL when set (shared by every worker and server), else in the process' memory.
  RATELIMIT_ENABLED = False turns it off (the test suites do, and enable it where tested).
  Behind reverse proxies set TRUSTED_PROXIES (their number), or every client has the
  proxy's address and shares its per-IP limit.
"""

from __future__ import annotations

from flask import Flask
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from .extensions import limiter

# Failed sign-ins (a successful one is not counted). Per (IP, e-mail): 5 a minute and 20 an
# hour are plenty for a person mistyping, and keep one machine to ~500 guesses a day on one
# account; since the IP is in the key, an attacker elsewhere cannot lock the owner out.
# Per IP: 30 a minute, 200 an hour stop one machine spraying many accounts, while an office
# behind one NAT address can still absorb many colleagues' typos.
LOGIN_LIMIT_PER_ACCOUNT = "5 per minute; 20 per hour"
LOGIN_LIMIT_PER_IP = "30 per minute; 200 per hour"
# Wrong "current password" on the change-password form, per signed-in user.
PASSWORD_CHANGE_LIMIT = "5 per minute; 20 per hour"

# Only the app's own files: no inline script or style anywhere (htmx's own indicator <style>
# is off: includeIndicatorStyles in base.html), and no eval: htmx's allowEval is off and no
# hx-trigger has a filter expression (app.js keeps a search field's change from its form).
# data: images are the inline SVG icons of the CSS (the search field's magnifier).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
REFERRER_POLICY = "same-origin"
PERMISSIONS_POLICY = {"camera": "()", "microphone": "()", "geolocation": "()",
                      "browsing-topics": "()"}


def init_app(app: Flask) -> None:
    for key, value in config_module.REMEMBER_COOKIE.items():
        app.config.setdefault(key, value)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # The client's address and scheme as the proxies saw them: throttling per IP and
        # HSTS (sent on HTTPS only) depend on them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0)
    _init_limiter(app)
    production = bool(app.config.get("PRODUCTION"))
    Talisman(
        app,
        # TLS ends at the proxy, which redirects; HSTS keeps browsers on HTTPS after that.
        force_https=False,
        strict_transport_security=production,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy=REFERRER_POLICY,
        permissions_policy=PERMISSIONS_POLICY,
        # Cookie flags stay those of config.py (Secure in production).
        session_cookie_secure=False,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
    )


def _init_limiter(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "leadway")
    # Redis down: count in memory meanwhile rather than answer 500 to every sign-in.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
