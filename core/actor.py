"""Who is acting: services take this plain value, never a request object."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    id: str
    role: str
    username: str = ""
    # The creditors whose cases this actor may see; None: every creditor (admins, the system).
    creditor_ids: frozenset[str] | None = None

    @property
    def is_collector(self) -> bool:
        return self.role == "collector"

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


SYSTEM = Actor(id="system", role="system", username="system")
