"""The wiring of one process: settings, database, cipher, blob store, signer, job runner.

Made by the app factory (or a worker's start-up) and handed to services and jobs, which
use its attributes and never build their own connections.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.crypto import FieldCipher
from core.db import Database
from core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cipher: FieldCipher
    blobs: Any = None
    signer: Any = None
    credentials: Any = None  # core.keys.ContentCredentialKey: signs C2PA manifests on exported images
    jobs: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
