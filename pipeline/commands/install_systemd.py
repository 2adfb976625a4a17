"""bin/install-systemd: render the units in systemd/ for this checkout and user, install and enable them.

Run it as the user the services will run as; it calls sudo for the steps that need root (or runs them
directly when started as root). The venv and the state folder are made as the service user, so no
root-owned file ends up in the checkout.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline import ROOT
from pipeline.commands import _cli
from pipeline.errors import ConfigError

TEMPLATES = ROOT / "systemd"
ROLES = ("scheduler", "enricher", "deliverer")
TARGET = "finops-generator.target"
UNITS = (*(f"finops-{role}.service" for role in ROLES), TARGET)
# Optional (--with-dashboard): not part of the target, so stopping the generator leaves the page up.
DASHBOARD = "finops-dashboard.service"
# The seed's single-process unit: it would fight the three new ones for the queues.
LEGACY = "finops-generator.service"
UNIT_DIR = Path("/etc/systemd/system")

_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
# Unit files give whitespace, quotes, backslashes, `$` and `%` meanings of their own; rather than
# escape each differently per directive, such paths are refused with a clear message.
_UNSAFE = re.compile(r"[\s\"'\\$%;]")


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every @NAME@ in `template`; a placeholder without a value is a bug, not an empty string."""

    def fill(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise KeyError(f"template placeholder @{match[1]}@ has no value")
        return values[match[1]]

    return _PLACEHOLDER.sub(fill, template)


def unit_values(root: Path, user: str, state_dir: Path) -> dict[str, str]:
    """The placeholder values, refusing paths a unit file cannot carry verbatim."""
    for variable, path in (("checkout", root), ("STATE_DIR", state_dir)):
        if _UNSAFE.search(str(path)):
            raise ConfigError(variable, str(path), "a path without spaces, quotes, backslashes, $, % or ;")
    return {"ROOT": str(root), "USER": user, "STATE_DIR": str(state_dir)}


def render_units(values: Mapping[str, str], templates: Path = TEMPLATES, *,
                 with_dashboard: bool = False) -> dict[str, str]:
    """Every unit file name mapped to its rendered text."""
    names = (*UNITS, DASHBOARD) if with_dashboard else UNITS
    return {name: render((templates / name).read_text(encoding="utf-8"), values) for name in names}


def _service_user(given: str | None) -> str:
    """--user, else the sudo caller, else whoever runs this."""
    if given:
        return given
    if os.geteuid() == 0 and os.environ.get("SUDO_USER"):
        return os.environ["SUDO_USER"]
    return _me()


def _me() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


class Host:
    """Runs the installation's commands, each echoed first: as root (sudo when needed) or as the user."""

    def __init__(self, user: str) -> None:
        self.root_prefix = [] if os.geteuid() == 0 else ["sudo"]
        if user == _me():
            self.user_prefix: list[str] = []
        elif os.geteuid() == 0:
            self.user_prefix = ["runuser", "-u", user, "--"]
        else:
            self.user_prefix = ["sudo", "-u", user, "--"]

    def as_root(self, *argv: str) -> int:
        """Run a privileged command."""
        return _call([*self.root_prefix, *argv])

    def as_user(self, *argv: str) -> int:
        """Run a command as the service user."""
        return _call([*self.user_prefix, *argv])


def _call(argv: Sequence[str], *, quiet: bool = False) -> int:
    if not quiet:
        print("+ " + " ".join(argv), flush=True)
    out = subprocess.DEVNULL if quiet else None
    try:
        return subprocess.call(argv, stdout=out, stderr=out)
    except OSError as exc:  # no sudo, no runuser
        if not quiet:
            print(f"install-systemd: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127


def install(units: Mapping[str, str], unit_dir: Path, state_dir: Path, host: Host) -> int:
    """Prepare as the user, copy the units, retire the legacy unit, reload and enable the target."""
    # Makes or refreshes .venv as the service user and proves that user can read and run the checkout.
    if host.as_user(str(ROOT / "bin" / "scheduler"), "--version") != 0:
        print("install-systemd: the service user cannot run bin/scheduler from this checkout "
              "(can it read the folder?)", file=sys.stderr)
        return 1
    # ReadWritePaths= needs the folder to exist, and it must belong to the service user.
    if host.as_user("mkdir", "-p", str(state_dir)) != 0:
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, text in units.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
            files.append(str(Path(tmp) / name))
        if host.as_root("install", "-m", "0644", *files, str(unit_dir)) != 0:
            return 1
    # A probe whose failure is an answer ("not installed"), so it is neither echoed nor run as root.
    if (unit_dir / LEGACY).exists() or _call(["systemctl", "is-enabled", "--quiet", LEGACY], quiet=True) == 0:
        print(f"install-systemd: disabling the older single {LEGACY} (its file is left in place)")
        if host.as_root("systemctl", "disable", "--now", LEGACY) != 0:
            return 1
    enable = [("systemctl", "daemon-reload"), ("systemctl", "enable", TARGET)]
    if DASHBOARD in units:
        enable.append(("systemctl", "enable", DASHBOARD))
    for argv in enable:
        if host.as_root(*argv) != 0:
            return 1
    print(f"installed; start or restart everything with: sudo systemctl restart {TARGET}")
    if DASHBOARD in units:
        print(f"dashboard: sudo systemctl restart {DASHBOARD}, then open http://127.0.0.1:8090/ on this machine")
    return 0


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("install-systemd", "Render the systemd units for this checkout and user, install and "
                    "enable them. STATE_DIR (from .env or --state-dir) is written into the units.", examples=[
                        "bin/install-systemd --dry-run     # show the units, change nothing",
                        "bin/install-systemd               # install for you; asks for sudo",
                        "bin/install-systemd --user finops --state-dir /mnt/ssd/finops-state"])
    p.add_argument("--user", metavar="USER", help="the account the services run as (default: you, or the sudo caller)")
    p.add_argument("--dry-run", action="store_true", help="print the rendered units and install nothing")
    p.add_argument("--unit-dir", type=Path, default=UNIT_DIR, metavar="DIR",
                   help=f"where units go (default: {UNIT_DIR})")
    p.add_argument("--with-dashboard", action="store_true",
                   help=f"also install and enable {DASHBOARD} (bin/dashboard, read-only, on 127.0.0.1:8090)")
    args = p.parse_args()
    user = _service_user(args.user)
    try:
        pwd.getpwnam(user)
    except KeyError:
        p.error(f"user {user!r} does not exist")
    if user == "root" and not args.user:
        p.error("refusing to run the services as root by default; pass --user USER (or --user root)")
    cfg = _cli.settings(args)
    units = render_units(unit_values(ROOT, user, cfg.state_dir), with_dashboard=args.with_dashboard)
    if args.dry_run:
        for name, text in units.items():
            print(f"# ---- {args.unit_dir / name} ----\n{text}")
        print(f"# without --dry-run: .venv and {cfg.state_dir} made as {user}, these units installed, an older "
              f"{LEGACY} disabled, systemctl daemon-reload, systemctl enable {TARGET}"
              f"{f', systemctl enable {DASHBOARD}' if args.with_dashboard else ''}")
        return 0
    if shutil.which("systemctl") is None:
        print("install-systemd: systemctl not found: this needs a system run by systemd", file=sys.stderr)
        return 1
    return install(units, args.unit_dir, cfg.state_dir, Host(user))


if __name__ == "__main__":
    main()
