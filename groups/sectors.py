"""The six built-in circles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sector:
    code: str
    name_zh: str
    name_en: str
    number: int | None = None  # 1-6 for the built-in circles
    retired: bool = False

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


BUILTIN_SECTORS: tuple[Sector, ...] = (
    Sector("drivers", "交通运输司乘人员", "Drivers (taxi, bus, freight)", 1),
    Sector("hospitality", "宾馆旅店、网吧、娱乐、餐饮", "Hospitality (hotels, cafés, venues)", 2),
    Sector("recyclers", "二手回收、修理、金银首饰加工", "Recyclers, repairers, jewellers", 3),
    Sector("landlords", "房屋出租户", "Landlords", 4),
    Sector("businesses", "个体工商户", "Small businesses", 5),
    Sector("cadres", "村组干部", "Village cadres", 6),
)
