"""The shared kernel: what every domain package may import (errors with catalogue keys,
the clock, the audit log port, the event publisher port). Standard library only."""
