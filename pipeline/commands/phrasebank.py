"""bin/phrasebank: list, export and import the phrasebank (templates from Gemini texts) as JSON Lines."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from pipeline.commands import _cli
from pipeline.enrich.bank_io import read_lines
from pipeline.enrich.phrasebank import FILE_NAME, Phrasebank, template_json
from pipeline.errors import EX_DATAERR, UsageError


def _open(state_dir: Path, *, create: bool) -> Phrasebank:
    if not create and not (state_dir / FILE_NAME).exists():
        raise UsageError(f"{state_dir / FILE_NAME}: no phrasebank yet (the enricher makes one from Gemini "
                         "texts; bin/phrasebank import seeds one)")
    return Phrasebank(state_dir)


def _list(bank: Phrasebank, as_json: bool) -> int:
    buckets = bank.buckets()
    models = Counter(t.model for t in bank.all())
    if as_json:
        sys.stdout.write(json.dumps({"templates": len(bank), "models": dict(models), "buckets": [
            {"channel": c, "language": lang, "job_type": j, "templates": n}
            for (c, lang, j), n in sorted(buckets.items())]}, indent=2) + "\n")
        return 0
    sys.stdout.write(f"{len(bank)} templates in {len(buckets)} buckets; by model: "
                     + ", ".join(f"{m} {n}" for m, n in models.most_common()) + "\n")
    for (channel, language, job), n in sorted(buckets.items()):
        sys.stdout.write(f"{channel:6} {language:6} {job:22} {n:6}\n")
    return 0


def _export(bank: Phrasebank, target: str) -> int:
    out = sys.stdout if target == "-" else Path(target).open("w", encoding="utf-8")  # noqa: SIM115
    try:
        count = 0
        for template in bank.all():
            out.write(template_json(template) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    sys.stderr.write(f"phrasebank: exported {count} templates\n")
    return 0


def _import(bank: Phrasebank, source: str) -> int:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: cannot read ({exc})") from None
    result = read_lines(text.splitlines())
    for number, reason in result.bad.items():
        sys.stderr.write(f"phrasebank: {source}:{number}: skipped: {reason}\n")
    added = bank.add(result.templates)
    sys.stdout.write(f"imported {added} new templates ({len(result.templates) - added} already present), "
                     f"skipped {len(result.bad)} bad lines\n")
    return EX_DATAERR if result.bad else 0


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("phrasebank", "List, export or import the phrasebank: templates made from Gemini texts.")
    sub = p.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="templates per channel, language and job class")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    export = sub.add_parser("export", help="write every template as JSON Lines")
    export.add_argument("file", nargs="?", default="-", help="output file (default: standard output)")
    imp = sub.add_parser("import", help="add templates from JSON Lines; bad lines are reported and skipped "
                                        "(exit 65 when any was)")
    imp.add_argument("file", help="JSON Lines file, or - for standard input")
    args = p.parse_args()
    cfg = _cli.settings(args)
    bank = _open(cfg.state_dir, create=args.action == "import")
    try:
        if args.action == "list":
            return _list(bank, args.json)
        if args.action == "export":
            return _export(bank, args.file)
        return _import(bank, args.file)
    finally:
        bank.close()


if __name__ == "__main__":
    main()
