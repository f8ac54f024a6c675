"""Console pages, added to the application in this order (like the bot's ``FEATURES``).

Each module exposes ``setup(ctx: console.app.ConsoleContext) -> PageRouter``: it declares
its live topics on ``ctx.live`` and returns its routes. See docs/integration.md,
"Console pages".
"""

PAGES: tuple[str, ...] = (
    "console.pages.start",  # who is signed in, their sessions; sign out everywhere
    "console.pages.tips",  # tip inbox (placeholder until the tips page is built)
    "console.pages.map",  # tips on a map (placeholder: the map with the configured tiles)
    "console.pages.notices",  # notices monitor (placeholder)
)
