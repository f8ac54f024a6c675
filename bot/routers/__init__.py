"""Feature routers, included in this order (earlier routers see updates first).

Each module exposes ``setup(ctx: AppContext) -> Router``: it builds its services,
registers its commands, scheduler jobs and start-up hooks, and returns its router.
Features come before ``core`` so that their deep links (``/start tip_...``) reach them;
``core`` answers every /start no feature claimed.
"""

FEATURES: tuple[str, ...] = (
    "bot.routers.groups",  # sectors, areas, binding, admission, members (issue 3)
    "bot.routers.notices",  # compose, deliver, update, close notices (issue 4)
    "bot.routers.tips",  # tip intake, threads, search (issue 5)
    "bot.routers.duty",  # rotation, routing, acknowledgement, escalation (issue 6)
    "bot.routers.rewards",  # eligibility, approval, payment, ledger (issue 7)
    "bot.routers.console",  # sign-in links to the officer web console (issue 15)
    "bot.routers.status",  # /status: this instance and the lease holders (issue 18)
    "bot.routers.core",  # start, help, whoami, lang, roles
    # Keep last: answers unknown commands in private chats.
    "bot.routers.fallback",
)
