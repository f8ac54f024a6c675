"""The officer web console: server-rendered pages, live updates, sign-in from the bot.

``python -m bot`` serves it on ``CONSOLE_HOST:CONSOLE_PORT`` (unless ``CONSOLE_ENABLED`` is
false); ``python -m console`` runs it alone (several processes may run behind a load
balancer: sessions, sign-in links and stream positions live in MongoDB, nothing another
process needs is kept in memory).

Layout:
  config.py    what the console needs from ``bot.config.Settings``
  services.py  the domain services pages use (same classes and rules as the bot)
  routing.py   ``PageRouter``: routes with a declared permission, nav slots, live topics
  auth.py      sign-in/out routes, the session middleware, cookies
  security.py  CSRF check, security headers (Content-Security-Policy)
  render.py    Jinja2 templates, the translator, error pages
  live.py      ``LiveHub``: one MongoDB change stream per process, Server-Sent Events
  app.py       ``build_console`` (the aiohttp application) and ``ConsoleServer``
  runner.py    ``python -m console``
  pages/       one module per page (``PAGES``); templates/ and static/ beside them

How to add a page: docs/integration.md, "Console pages".
"""
