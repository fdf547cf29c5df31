"""Unbound extensions, initialised in ``create_app``."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()


def init_app(app: Flask) -> None:
    """Bind the extensions to ``app``."""
    csrf.init_app(app)
    login_manager.init_app(app)
