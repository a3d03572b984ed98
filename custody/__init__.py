"""The custody ledger: an RFC 9162 Merkle log of custody events, its checkpoints and verification.

`ledger/` is the pure core (Merkle math, leaves, checkpoint notes, the verifier) that the offline
bundle verifier shares; `append` is the one write path; `proofs` and `checkpoints` read the
stored tree; `verification`, `sweep` and `jobs` are the auditor's runs. Imports `core` only.
"""
