"""People, roles, sectors, areas, groups and admission: the base domain of Six Circles.

Pure Python: no aiogram, pymongo, apscheduler or aiohttp here (enforced by import-linter).
"""
