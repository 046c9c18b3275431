"""--plot writes a real chart: a PNG of a sensible size with the verdicts drawn in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelguard.cli.main import main

pytestmark = pytest.mark.plot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulate"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_is_a_png_with_the_failures_marked(tmp_path: Path) -> None:
    import matplotlib.image  # noqa: PLC0415 (the optional extra, only under this marker)
    import numpy as np  # noqa: PLC0415

    chart = tmp_path / "chart.png"
    scenario = str(EXAMPLES / "consecutive-failures.yaml")
    assert main(["simulate", scenario, "--plot", str(chart)]) == 0
    assert chart.read_bytes()[:8] == PNG_SIGNATURE
    pixels = np.asarray(matplotlib.image.imread(str(chart)))
    height, width = pixels.shape[:2]
    assert width >= 800
    assert height >= 250
    rgb = pixels[:, :, :3]
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50  # not blank, not one colour
    # The Failed markers: matplotlib's tab:red (#d62728), drawn at full opacity.
    red = np.all(np.abs(rgb - np.array([0xD6, 0x27, 0x28]) / 255) < 0.02, axis=-1)
    assert red.sum() > 20


def test_no_failure_no_red(tmp_path: Path) -> None:
    import matplotlib.image  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    chart = tmp_path / "chart.png"
    scenario = str(EXAMPLES / "no-data-hold.yaml")
    assert main(["simulate", scenario, "--plot", str(chart)]) == 0
    rgb = np.asarray(matplotlib.image.imread(str(chart)))[:, :, :3]
    red = np.all(np.abs(rgb - np.array([0xD6, 0x27, 0x28]) / 255) < 0.02, axis=-1)
    assert red.sum() == 0  # the marker colour really means Failed
