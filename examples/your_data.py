"""Tutorial 4: your data in three commands: ``maflow train``, ``maflow score``, ``maflow sample``.

Writes a CSV of sensor-like readings (a text id column, four numeric columns on scales from
1e-3 to 1e3), then runs the three commands a user types: fit a flow to the CSV, score new rows
(a few of them broken on purpose: the lowest scores find them), and draw new rows. The exact
log-density of the readings is known, so the script also prints how far the scores are from it.

    python examples/your_data.py                 # at most 30 epochs: a minute or two on one core
    python examples/your_data.py --keep DIR      # keep the files and the run in DIR
    MAFLOW_QUICK=1 python examples/your_data.py  # or --quick: two epochs (CI)
"""

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

QUICK = "--quick" in sys.argv or os.environ.get("MAFLOW_QUICK") == "1"
SCALES = np.array([1e-3, 1.0, 1e3, 10.0])
NAMES = ["current_A", "voltage_V", "pressure_Pa", "temperature_C"]


def readings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two operating modes (a mixture of two correlated Gaussians), in each column's own units."""
    mode = rng.integers(0, 2, n)
    means = np.array([[-1.0, -1.0, 0.5, 0.0], [1.0, 1.0, -0.5, 0.5]])
    covariance = 0.15 * (0.6 * np.ones((4, 4)) + 0.4 * np.eye(4))
    return (rng.multivariate_normal(np.zeros(4), covariance, n) + means[mode]) * SCALES


def exact_log_density(x: np.ndarray) -> np.ndarray:
    means = np.array([[-1.0, -1.0, 0.5, 0.0], [1.0, 1.0, -0.5, 0.5]])
    covariance = 0.15 * (0.6 * np.ones((4, 4)) + 0.4 * np.eye(4))
    inverse, (_, log_det) = np.linalg.inv(covariance), np.linalg.slogdet(covariance)
    z = x / SCALES
    parts = [-0.5 * np.einsum("ni,ij,nj->n", z - m, inverse, z - m) for m in means]
    normaliser = 0.5 * (4 * np.log(2 * np.pi) + log_det) + np.log(SCALES).sum() + np.log(2)
    return np.logaddexp(*parts) - normaliser


def write_csv(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as file:
        file.write("id," + ",".join(NAMES) + "\n")
        for i, row in enumerate(rows):
            file.write(f"unit-{i:05d}," + ",".join(f"{v:.8g}" for v in row) + "\n")


def maflow(*args: str) -> None:
    """Runs one command as typed in a shell, and shows it."""
    print(f"\n$ maflow {shlex.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "maflow", *args], check=True)


def main(folder: Path) -> None:
    rng = np.random.default_rng(0)
    write_csv(folder / "readings.csv", readings(2000 if QUICK else 10_000, rng))
    new = readings(1000, rng)
    new[:5, 2] = 3000.0  # five broken pressure gauges, stuck at 3 kPa
    np.savetxt(folder / "new.csv", new, delimiter=",", header=",".join(NAMES), comments="")

    columns = ",".join(NAMES)  # every column but the id
    epochs = ["--epochs", "2"] if QUICK else ["--epochs", "30", "--patience", "5"]
    # 1. Fit: 10% validation, 10% test (a seeded shuffle); columns standardised with the training statistics.
    run = str(folder / "runs" / "readings")  # --out is the run folder
    maflow("train", "--data", str(folder / "readings.csv"), "--columns", columns, "--out", run,
           "--num-layers", "5", "--hidden-features", "64", "--lr", "2e-3", "--batch-size", "128", *epochs,
           "--quiet")  # fmt: skip
    # 2. Score: one log-density per row, in the data's units (nats), the columns found by name.
    maflow("score", "--run", run, "--data", str(folder / "new.csv"), "--output", str(folder / "scores.csv"))
    # 3. Sample: new rows in the data's units, with the header of the training file.
    maflow("sample", "--run", run, "--num-samples", "1000", "--output", str(folder / "samples.csv"))

    scores = np.loadtxt(folder / "scores.csv", skiprows=1)
    exact = exact_log_density(new)
    print(
        f"\nmean log-density of the normal new rows: {scores[5:].mean():.3f} nats (exact {exact[5:].mean():.3f})"
    )
    print(f"the five lowest scores are rows {sorted(np.argsort(scores)[:5].tolist())} (rows 0-4 are broken)")
    samples = np.loadtxt(folder / "samples.csv", delimiter=",", skiprows=1)
    print(f"standard deviations of the samples {np.array2string(samples.std(0), precision=3)}")
    print(f"                    of the data    {np.array2string(new[5:].std(0), precision=3)}")


if __name__ == "__main__":
    if "--keep" in sys.argv:
        keep = Path(sys.argv[sys.argv.index("--keep") + 1])
        keep.mkdir(parents=True, exist_ok=True)
        main(keep)
    else:
        with tempfile.TemporaryDirectory() as temporary:
            main(Path(temporary))
