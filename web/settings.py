"""What the review workspace needs to run: the store, the run folders, and its security knobs.

``web_settings`` builds them from a config and the data home, as ``ewp web`` does; tests build
``WebSettings`` directly (with a fixed clock) and hand them to ``web.create_app``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ewp.core.config import Config
from ewp.core.settings import store_folder
from ewp.stores.access import LoginLimits
from ewp.stores.review import default_url

SECRET_ENV = "EWP_WEB_SECRET"
SECRET_FILE = "web-secret"


DEFAULT_LIMITS = LoginLimits(per_user=5, per_client=20, window=dt.timedelta(minutes=15))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebSettings:
    """Everything ``create_app`` reads.

    ``runs_dir`` is ``<home>/runs/<config name>``: a week's run folder is ``weekly-<as-of>``
    (``ewp score``, and ``ewp demo`` since it runs the score flow) or ``<as-of>`` (written by
    the demo of earlier versions) inside it. ``secret_key`` signs the session
    cookie. ``clock`` gives the current time (aware) for sessions, the rate limit, the access
    log and the default decision date.
    """

    database_url: str
    runs_dir: Path
    decisions: tuple[str, ...]
    secret_key: str
    session_idle: dt.timedelta = dt.timedelta(minutes=30)
    session_lifetime: dt.timedelta = dt.timedelta(hours=8)
    login_limits: LoginLimits = DEFAULT_LIMITS
    trusted_user_header: str | None = None
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    secure_cookies: bool = False
    clock: Callable[[], dt.datetime] = field(default=_now)


def secret_key(home: Path) -> str:
    """The cookie-signing key: ``$EWP_WEB_SECRET``, else a random key kept in
    ``<home>/web-secret`` (created on first use, readable by its owner only), so sessions
    survive a restart and every server process on the same home shares it."""
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        return configured
    path = home / SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def web_settings(config: Config, home: Path) -> WebSettings:
    """The settings ``ewp web`` runs with: the config's review store, run folders and ``web``
    section, the secret key from the environment or the data home."""
    web = config.web
    return WebSettings(
        database_url=config.review.database_url or default_url(store_folder(home, config.store)),
        runs_dir=home / "runs" / config.name,
        decisions=tuple(config.review.decisions),
        secret_key=secret_key(home),
        session_idle=dt.timedelta(minutes=web.session_idle_minutes),
        session_lifetime=dt.timedelta(hours=web.session_max_hours),
        login_limits=LoginLimits(
            per_user=web.max_failed_logins,
            per_client=web.max_failed_logins_per_client,
            window=dt.timedelta(minutes=web.login_window_minutes),
        ),
        trusted_user_header=web.trusted_user_header,
        trusted_proxies=tuple(web.trusted_proxies),
        secure_cookies=web.secure_cookies,
    )
