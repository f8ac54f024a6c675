from tests.e2e.harness import runner, tg, webhook_world, world

__all__ = ["runner", "tg", "webhook_world", "world"]
