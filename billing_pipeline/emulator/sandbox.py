"""What Qonto's sandbox gateway answers without ``X-Qonto-Staging-Token``: a login page, not JSON."""

from __future__ import annotations

from starlette.responses import HTMLResponse

STAGING_HEADER = "x-qonto-staging-token"

_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Qonto - Sign in (local Qonto emulator, sandbox mode)</title></head>
<body>
<div id="onelogin-login">
  <h1>Sign in to Qonto</h1>
  <form method="post" action="https://qonto.onelogin.com/login">
    <label>Username <input name="username" type="text"></label>
    <label>Password <input name="password" type="password"></label>
    <button type="submit">Continue</button>
  </form>
  <p>This local Qonto emulator runs in sandbox mode: API calls need the X-Qonto-Staging-Token header.</p>
</div>
</body>
</html>
"""


def login_page() -> HTMLResponse:
    # 200 on purpose: Qonto's gateway does the same, and a client must not take it for success
    return HTMLResponse(_LOGIN_PAGE, status_code=200)
