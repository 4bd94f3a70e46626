"""deploy/native/ensure-fonts.sh decides whether the quote PDF's fonts are ready. It used `dpkg -s`, which also
answers yes while another worktree's apt-get is unpacking the package (dpkg's half-installed state, the files not
yet under their names): a `make unit` in that window skipped the install and the five tests of
tests/unit/orders/test_orders_quote_print.py that open the Noto files failed (2 failed + 3 errors, gone on rerun).
Here against a dpkg database and a font directory of our own, so nothing on the machine is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "native" / "ensure-fonts.sh"
FACES = ("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc")

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs Debian's dpkg-query")


def dpkg_database(root: Path, status: str) -> Path:
    """A dpkg admin directory that knows fonts-noto-cjk in ``status`` (the Status: field, as dpkg writes it)."""
    admin = root / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text(
        f"Package: fonts-noto-cjk\nStatus: {status}\nPriority: optional\nSection: fonts\nMaintainer: x\n"
        "Architecture: all\nVersion: 1:20220127+repack1-1\nDescription: x\n\n", encoding="utf-8")
    return admin


def fonts_ready(admin: Path, noto: Path) -> bool:
    env = {**os.environ, "SALESFLOW_DPKG_ADMINDIR": str(admin), "SALESFLOW_NOTO_DIR": str(noto)}
    return subprocess.run(["bash", str(SCRIPT), "--check"], env=env, check=False).returncode == 0


@pytest.mark.parametrize("status", ["install reinstreq half-installed", "install ok unpacked",
                                    "deinstall ok config-files"])
def test_a_package_dpkg_is_still_unpacking_or_has_removed_is_not_ready(tmp_path: Path, status: str) -> None:
    admin = dpkg_database(tmp_path, status)
    noto = tmp_path / "noto"
    noto.mkdir()
    # What the script used to ask: dpkg -s answers yes in every one of these states.
    assert subprocess.run(["dpkg", f"--admindir={admin}", "-s", "fonts-noto-cjk"], capture_output=True,
                          check=False).returncode == 0
    assert not fonts_ready(admin, noto)


def test_an_installed_package_is_ready_only_with_both_faces_on_disk(tmp_path: Path) -> None:
    admin = dpkg_database(tmp_path, "install ok installed")
    noto = tmp_path / "noto"
    noto.mkdir()
    assert not fonts_ready(admin, noto)
    (noto / FACES[0]).write_bytes(b"ttcf")
    assert not fonts_ready(admin, noto)
    (noto / FACES[1]).write_bytes(b"ttcf")
    assert fonts_ready(admin, noto)
