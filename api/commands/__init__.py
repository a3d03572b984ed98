"""CLI commands of the feature packages; `api/cli.py` adds every command in `COMMANDS` of these modules."""

COMMAND_MODULES = (
    "api.commands.ledger",
    "api.commands.evidence",
    "api.commands.packets",
    "api.commands.worker",
    "api.commands.witness",
)
