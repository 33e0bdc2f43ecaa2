"""Helpers for page tests: the CSRF token of a form, signing in, posting a form as a browser would."""

import re

from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "correct-horse-battery"


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(app: Flask, user) -> FlaskClient:
    """A fresh browser (test client with its own cookies) signed in as `user` through /login."""
    browser = app.test_client()
    response = browser.post("/login", data={"username": user.username, "password": PASSWORD,
                                            "csrf_token": csrf_token(browser.get("/login").text)})
    assert response.status_code == 302, response.text
    return browser


def post_form(browser: FlaskClient, path: str, data: dict, form_page: str | None = None):
    """Open the form page, then post `data` with its CSRF token."""
    return browser.post(path, data={**data, "csrf_token": csrf_token(browser.get(form_page or path).text)})


def in_chinese(browser: FlaskClient, path: str):
    """Switch `browser` to Chinese, as the language menu does, and GET `path`."""
    browser.post("/language", data={"locale": "zh_Hans", "next": path,
                                    "csrf_token": csrf_token(browser.get("/login").text)})
    return browser.get(path)
