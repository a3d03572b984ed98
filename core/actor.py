"""Who is acting: services take this plain value, never a request object."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    id: str
    role: str
    username: str = ""

    @property
    def is_collector(self) -> bool:
        return self.role == "collector"

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


SYSTEM = Actor(id="system", role="system", username="system")
