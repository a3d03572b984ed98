"""Keep the console's catalogs in step: extract messages, merge them into each .po, report gaps.

Run `python scripts/translations.py` after changing console text, translate what it lists as
missing in translations/<locale>/LC_MESSAGES/messages.po, and commit the .po (the .mo files are
built by `make install`).
"""
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PYBABEL = Path(sys.executable).with_name("pybabel")


def main() -> int:
    pot = ROOT / "translations" / "messages.pot"
    subprocess.run([str(PYBABEL), "-q", "extract", "-F", "babel.cfg", "-k", "_", "-k", "gettext", "-k", "N_",
                    "-k", "lazy_gettext", "--no-location", "--sort-output", "-o", str(pot), "."], cwd=ROOT, check=True)
    missing = 0
    for po in sorted((ROOT / "translations").glob("*/LC_MESSAGES/messages.po")):
        subprocess.run([str(PYBABEL), "-q", "update", "-i", str(pot), "-o", str(po), "-l", po.parent.parent.name,
                        "--no-fuzzy-matching"],
                       cwd=ROOT, check=True)
        with po.open("rb") as handle:
            for message in read_po(handle):
                if message.id and not message.string:
                    print(f"{po.parent.parent.name}: missing {message.id!r}")
                    missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
