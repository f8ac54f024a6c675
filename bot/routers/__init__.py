"""Feature routers, included in this order (earlier routers see updates first).

Each module exposes ``setup(ctx: AppContext) -> Router``: it builds its services,
registers its commands, scheduler jobs and start-up hooks, and returns its router.
"""

FEATURES: tuple[str, ...] = (
    "bot.routers.core",
    # Keep last: answers unknown commands in private chats.
    "bot.routers.fallback",
)
