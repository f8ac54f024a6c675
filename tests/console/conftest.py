from tests.console.harness import browser, console_world, page, tile_server
from tests.e2e.harness import runner, tg

__all__ = ["browser", "console_world", "page", "runner", "tg", "tile_server"]
