"""`mailbot retention`: remove personal data past the retention period, or list what would go."""

from __future__ import annotations

import argparse

from mailbot.cli.common import load, make_console, open_db
from mailbot.retention import apply_retention


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot retention [--dry-run]`."""
    parser = sub.add_parser(
        "retention", help="remove personal data of cases closed longer ago than the retention period",
        description=(
            "After [schedule] retention_months (default 12) after a case closed, its mail, addresses, "
            "names, attachments, outgoing mail and challenge codes are removed; the case's reference, "
            "dates and states and its audit trail stay, without personal data. Mail that never became "
            "a case, quarantined mail and owner notices past the period go too. `mailbot run` does this "
            "every day; this command does it now."
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed, change nothing")
    parser.set_defaults(func=retention)


def retention(args: argparse.Namespace) -> int:
    """Apply retention now (or only list it)."""
    config = load(args, allow_demo=True)
    db = open_db(config)
    report = apply_retention(db, config, dry_run=args.dry_run)
    console = make_console()
    console.print(f"Retention: {config.schedule.retention_months} month(s); "
                  f"everything closed or received before {report.cutoff:%Y-%m-%d %H:%M} UTC.")
    if report.empty and not report.cases:
        console.print("Nothing is past the retention period.")
        return 0
    for line in report.lines():
        console.print(f"  {line}", markup=False, highlight=False)
    if args.dry_run:
        console.print("Dry run: nothing was changed. Run without --dry-run to remove it.")
    return 0
