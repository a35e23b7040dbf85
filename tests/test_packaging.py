"""The built wheel carries queries/, templates/ and controls/, and an installed copy finds them."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "dist"), str(ROOT)], check=True)
    wheel = next((work / "dist").glob("reportgen-*.whl"))
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    # Dependencies come from the test venv's site-packages (a .pth adds it; nested .pth files,
    # like the editable reportgen finder, are not processed), the package itself from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    return python


def test_installed_wheel_finds_packaged_assets(installed, tmp_path):
    code = ("import reportgen, reportgen.assets as a; "
            "print(reportgen.__file__); [print(a.asset_dir(n)) for n in ('queries', 'templates', 'controls')]")
    out = subprocess.run([str(installed), "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    package_file, *dirs = out.stdout.split()
    site = Path(package_file).parent
    assert not Path(package_file).is_relative_to(ROOT)
    for d in dirs:
        assert Path(d).is_relative_to(site / "_assets"), d
    assert (site / "_assets" / "controls" / "mcsb.yaml").is_file()
    assert any((site / "_assets" / "queries").rglob("*.kql"))
    assert any((site / "_assets" / "templates").rglob("*.html"))


def test_installed_wheel_renders_a_pack(installed, tmp_path):
    def run(*args):
        proc = subprocess.run([str(installed), "-m", "reportgen", *args], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    run("sample", "--out", "snap", "--scale", "4")
    run("render", "snap", "--out", "pack")
    assert (tmp_path / "pack" / "evidence-pack.pdf").stat().st_size > 10_000
    assert (tmp_path / "pack" / "evidence-pack.xlsx").is_file()
