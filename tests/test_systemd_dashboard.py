"""The optional finops-dashboard.service: the workers' sandbox with the state folder read-only.

(`systemd-analyze verify` checks it with the other units in tests/test_systemd.py.)
"""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

import pytest

from pipeline.commands.install_systemd import DASHBOARD, TARGET, render_units, unit_values
from tests.conftest import BIN, ROOT
from tests.test_systemd import GUARD_S, fake_systemctl, parse_unit

# Directives whose values must match the deliverer's (the sandbox), not counting what differs on purpose.
_DIFFERENT = {"Description", "Documentation", "PartOf", "After", "Type", "NotifyAccess", "ExecStart", "WatchdogSec",
              "TimeoutStartSec", "TimeoutStopSec", "SyslogIdentifier", "ReadWritePaths", "ReadOnlyPaths",
              "RestrictAddressFamilies", "UMask", "MemoryMax", "WantedBy"}


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, str]:
    """Every unit, the dashboard's included, for this checkout and a temporary state folder."""
    return render_units(unit_values(ROOT, getpass.getuser(), tmp_path / "state"), with_dashboard=True)


def test_the_dashboard_unit_has_the_workers_sandbox_and_cannot_write_the_state_folder(
        rendered: dict[str, str], tmp_path: Path) -> None:
    """Same hardening as the deliverer; the state folder read-only and nothing writable at all."""
    dash, worker = parse_unit(rendered[DASHBOARD]), parse_unit(rendered["finops-deliverer.service"])
    assert DASHBOARD not in render_units(unit_values(ROOT, getpass.getuser(), tmp_path / "state"))
    for key, values in worker.items():
        if key not in _DIFFERENT:
            assert dash.get(key) == values, key
    assert "ReadWritePaths" not in dash and dash["ReadOnlyPaths"] == [str(tmp_path / "state")]
    assert dash["ExecStart"] == [str(BIN / "dashboard")] and "PartOf" not in dash
    assert {"65", "78"} <= set(dash["RestartPreventExitStatus"][0].split())
    assert dash["WantedBy"] == ["multi-user.target"] and "@" not in rendered[DASHBOARD]


@pytest.mark.process
def test_installer_with_dashboard_installs_and_enables_it(tmp_path: Path, env: dict[str, str]) -> None:
    """--with-dashboard writes the unit beside the others and enables it after the target."""
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    calls = fake_systemctl(tmp_path / "fakebin")
    env = {**env, "PATH": f"{tmp_path / 'fakebin'}{os.pathsep}{env['PATH']}"}
    result = subprocess.run([str(BIN / "install-systemd"), "--user", getpass.getuser(), "--unit-dir", str(unit_dir),
                             "--with-dashboard"], env=env, capture_output=True, text=True, check=False,
                            timeout=GUARD_S)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = render_units(unit_values(ROOT, getpass.getuser(), Path(env["STATE_DIR"])), with_dashboard=True)
    assert (unit_dir / DASHBOARD).read_text() == expected[DASHBOARD]
    assert calls.read_text().splitlines()[-2:] == [f"enable {TARGET}", f"enable {DASHBOARD}"]
