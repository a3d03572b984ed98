"""zh-CN and en for the console (Flask-Babel): the user's setting, else the browser's language."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel

TRANSLATIONS = Path(__file__).resolve().parent.parent.parent / "translations"
LOCALES = {"en": "en", "zh_CN": "zh-CN"}


def select_locale() -> str:
    chosen = request.args.get("lang") or session.get("locale")
    if chosen:
        chosen = chosen.replace("-", "_")
        if chosen in LOCALES:
            return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "en" if best == "en" else "zh_CN"


def html_lang(locale) -> str:
    """BCP 47 for the html lang attribute; Babel spells Simplified Chinese zh_Hans_CN."""
    return "zh-CN" if getattr(locale, "language", str(locale)[:2]) == "zh" else "en"


def install(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
