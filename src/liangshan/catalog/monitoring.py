"""Monitoring: stations, idempotent time-series ingestion, water-quality classes and alerts.

Ingestion takes rows (station code, parameter, observed_at, value, unit) from a CSV
file or an API body. Units are converted to each parameter's canonical unit or
the row is refused. The same reading (station, parameter, time) ingested twice is
stored once; a different value for a stored reading is refused (corrections are
not silent overwrites). Physically impossible values are refused; values outside
the plausible range are stored and raise an ``implausible`` alert. Plausible
ranges are [K] engineering judgement, not from a standard.

Naive timestamps are read as Asia/Shanghai (the time of Chinese monitoring
networks) and stored in UTC; monthly and annual periods are Asia/Shanghai
months and years.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from liangshan.catalog import water_quality
from liangshan.catalog.models import Alert, Reading, Station
from liangshan.catalog.schemas import StationIn
from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.service import record

LOCAL_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Parameter:
    unit: str
    factors: dict[str, float]  # accepted unit → factor to the canonical unit
    possible: tuple[float, float]  # outside: refused
    plausible: tuple[float, float]  # outside: stored with an alert [K]


_MG_L = {"mg/L": 1.0, "mg/l": 1.0, "g/m3": 1.0, "ug/L": 1e-3, "μg/L": 1e-3, "µg/L": 1e-3}
_UG_M3 = {"ug/m3": 1.0, "μg/m3": 1.0, "µg/m3": 1.0, "mg/m3": 1e3}
INF = float("inf")
PARAMETERS: dict[str, Parameter] = {
    "do": Parameter("mg/L", _MG_L, (0, INF), (0, 20)),
    "codmn": Parameter("mg/L", _MG_L, (0, INF), (0, 50)),
    "cod": Parameter("mg/L", _MG_L, (0, INF), (0, 500)),
    "bod5": Parameter("mg/L", _MG_L, (0, INF), (0, 200)),
    "nh3n": Parameter("mg/L", _MG_L, (0, INF), (0, 50)),
    "tp": Parameter("mg/L", _MG_L, (0, INF), (0, 10)),
    "tn": Parameter("mg/L", _MG_L, (0, INF), (0, 50)),
    "ph": Parameter("1", {"1": 1.0, "": 1.0, "pH": 1.0}, (0, 14), (5, 10)),
    "water_temp_c": Parameter("°C", {"°C": 1.0, "C": 1.0, "degC": 1.0}, (-5, 100), (0, 40)),
    "flow_m3s": Parameter("m3/s", {"m3/s": 1.0, "L/s": 1e-3}, (0, INF), (0, 60_000)),
    "water_level_m": Parameter("m", {"m": 1.0, "cm": 0.01}, (-INF, INF), (-100, 9000)),
    "pm25": Parameter("ug/m3", _UG_M3, (0, INF), (0, 1000)),
    "pm10": Parameter("ug/m3", _UG_M3, (0, INF), (0, 2000)),
    "so2": Parameter("ug/m3", _UG_M3, (0, INF), (0, 2000)),
    "no2": Parameter("ug/m3", _UG_M3, (0, INF), (0, 1000)),
    "o3": Parameter("ug/m3", _UG_M3, (0, INF), (0, 1000)),
}


def create_station(session: Session, actor: Principal, data: StationIn) -> Station:
    actor.require_write(data.region_code)
    if session.scalar(select(Station).where(Station.code == data.code)):
        raise Conflict(f"station {data.code} already exists", hint="choose another code")
    row = Station(**data.model_dump(mode="json"))
    session.add(row)
    session.flush()
    record(session, actor, "create", "station", data.code, region_code=data.region_code)
    return row


def get_station(session: Session, code: str) -> Station:
    row = session.scalar(select(Station).where(Station.code == code))
    if row is None:
        raise NotFound(f"station {code} does not exist", hint="list stations first")
    return row


def list_stations(session: Session, *, region_code: str | None = None,
                  basin: str | None = None, kind: str | None = None) -> list[Station]:
    query = select(Station).order_by(Station.code)
    if region_code:
        query = query.where(Station.region_code.startswith(region_code))
    if basin:
        query = query.where(Station.basin == basin)
    if kind:
        query = query.where(Station.kind == kind)
    return list(session.scalars(query))


@dataclass
class IngestReport:
    source: str
    inserted: int = 0
    duplicates: int = 0
    refused: dict[int, str] = field(default_factory=dict)  # 1-based row → reason
    alerts: list[str] = field(default_factory=list)


def _timestamp(value: object) -> datetime:
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError("empty")
    if ts.tzinfo is None:
        ts = ts.tz_localize(LOCAL_TZ)
    return ts.tz_convert(UTC).to_pydatetime()


def ingest_csv(session: Session, actor: Principal, path: str | Path) -> IngestReport:
    """Ingest readings from a CSV with columns station, parameter, observed_at, value, unit."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"station": str, "unit": str}, keep_default_na=False,
                            na_values=[""])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}",
                           hint="save it as UTF-8 CSV with a header row") from None
    return ingest(session, actor, frame, source=path.name)


def ingest(session: Session, actor: Principal, frame: pd.DataFrame,
           source: str = "api") -> IngestReport:
    """Store new readings, skip repeats, refuse bad rows, then check alerts for touched months."""
    need = ["station", "parameter", "observed_at", "value", "unit"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{source}: missing column(s) {', '.join(missing)}",
                           hint="columns: " + ", ".join(need))
    actor.require_scope("write:monitoring")
    report = IngestReport(source)
    stations = {s.code: s for s in session.scalars(
        select(Station).where(Station.code.in_(sorted(set(map(str, frame["station"]))))))}
    for st in stations.values():
        actor.require_write(st.region_code)
    clean: dict[tuple[int, str, datetime], tuple[int, float]] = {}
    for n, rec in enumerate(frame[need].to_dict("records"), start=1):
        station = stations.get(str(rec["station"]))
        param = PARAMETERS.get(str(rec["parameter"]).strip().lower())
        unit = "" if pd.isna(rec["unit"]) else str(rec["unit"]).strip()
        if station is None:
            report.refused[n] = f"unknown station '{rec['station']}'"
            continue
        if param is None:
            report.refused[n] = (f"unknown parameter '{rec['parameter']}'; known: "
                                 + ", ".join(PARAMETERS))
            continue
        if unit not in param.factors:
            report.refused[n] = (f"unit '{unit}' is not a unit of {rec['parameter']} "
                                 f"(accepted: {', '.join(u or '(blank)' for u in param.factors)})")
            continue
        try:
            at = _timestamp(rec["observed_at"])
            value = float(rec["value"]) * param.factors[unit]
        except (ValueError, TypeError):
            report.refused[n] = f"unreadable time '{rec['observed_at']}' or value '{rec['value']}'"
            continue
        if not (param.possible[0] <= value <= param.possible[1]):
            report.refused[n] = (f"{rec['parameter']} = {value} {param.unit} is impossible "
                                 f"(allowed {param.possible[0]}–{param.possible[1]})")
            continue
        key = (station.id, str(rec["parameter"]).strip().lower(), at)
        if key in clean and clean[key][1] != value:
            report.refused[n] = f"row {clean[key][0]} gives another value for the same reading"
            continue
        clean.setdefault(key, (n, value))
    _store(session, actor, clean, report, {s.id: s for s in stations.values()})
    record(session, actor, "ingest", "readings", None, detail={
        "source": source, "inserted": report.inserted, "duplicates": report.duplicates,
        "refused": len(report.refused)})
    session.flush()
    return report


def _store(session: Session, actor: Principal, clean: dict[tuple[int, str, datetime],
           tuple[int, float]], report: IngestReport, by_id: dict[int, Station]) -> None:
    if not clean:
        return
    times = [k[2] for k in clean]
    existing = {(r.station_id, r.parameter, r.observed_at): r for r in session.scalars(
        select(Reading).where(Reading.station_id.in_({k[0] for k in clean}),
                              Reading.observed_at >= min(times), Reading.observed_at <= max(times)))}
    now = utcnow()
    new_rows, touched = [], set()
    for key, (n, value) in clean.items():
        old = existing.get(key)
        if old is not None:
            if abs(old.value - value) <= 1e-9 * max(1.0, abs(value)):
                report.duplicates += 1
            else:
                report.refused[n] = (f"a reading of {key[1]} at {key[2].isoformat()} is already "
                                     f"stored with value {old.value} (source {old.source})")
            continue
        param = PARAMETERS[key[1]]
        new_rows.append({"station_id": key[0], "parameter": key[1], "observed_at": key[2],
                         "value": value, "unit": param.unit, "source": report.source,
                         "ingested_at": now})
        station = by_id[key[0]]
        touched.add((key[0], pd.Timestamp(key[2]).tz_convert(LOCAL_TZ).strftime("%Y-%m")))
        if not (param.plausible[0] <= value <= param.plausible[1]):
            report.alerts += raise_alert(
                session, "implausible", station, key[2].isoformat(), key[1],
                f"{station.name} ({station.code}): {key[1]} = {value} {param.unit} at "
                f"{key[2].isoformat()} is outside the plausible range "
                f"{param.plausible[0]}–{param.plausible[1]} [K]; check the instrument")
    if new_rows:
        session.execute(insert(Reading), new_rows)
        report.inserted += len(new_rows)
    session.flush()
    for station_id, month in sorted(touched):
        report.alerts += check_targets(session, by_id[station_id], month)


def raise_alert(session: Session, kind: str, station: Station | None, period: str,
                parameter: str | None, message: str, region_code: str | None = None) -> list[str]:
    """Store an alert once (by key); returns [message] if it is new, else []."""
    key = f"{kind}:{station.code if station else region_code}:{period}:{parameter or ''}"
    if session.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return []
    session.add(Alert(key=key, kind=kind, station_id=station.id if station else None,
                      region_code=station.region_code if station else region_code,
                      period=period, parameter=parameter, message=message))
    session.flush()
    return [message]


def series(session: Session, station_code: str, parameter: str | None = None,
           start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Readings of a station (canonical units), ordered by time."""
    station = get_station(session, station_code)
    query = select(Reading).where(Reading.station_id == station.id).order_by(
        Reading.observed_at, Reading.parameter)
    if parameter:
        query = query.where(Reading.parameter == parameter)
    if start:
        query = query.where(Reading.observed_at >= start)
    if end:
        query = query.where(Reading.observed_at < end)
    rows = [{"station": station.code, "parameter": r.parameter, "observed_at": r.observed_at,
             "value": r.value, "unit": r.unit, "source": r.source} for r in session.scalars(query)]
    return pd.DataFrame(rows, columns=["station", "parameter", "observed_at", "value", "unit",
                                       "source"])


def station_classes(session: Session, station_code: str, freq: str = "month") -> pd.DataFrame:
    """GB 3838-2002 class of a station per month or year (see :mod:`.water_quality`)."""
    station = get_station(session, station_code)
    return water_quality.classify_periods(series(session, station_code), freq, station.water_body)


def compliance(session: Session, station_code: str, year: int) -> dict[str, object]:
    """A section's compliance with its target class in ``year`` (for basin compensation).

    Returns the annual class (annual means), whether it meets the target, the months
    assessed and meeting the target, and their fraction. How the Chishui agreement
    counts partial compliance (months, indicators or both) is [NF] (MECHANISMS.md §3.3);
    both the annual and the monthly view are given so the caller can choose.
    """
    station = get_station(session, station_code)
    if station.target_class is None:
        raise InvalidInput(f"station {station_code} has no target class",
                           hint="set target_class (GB 3838-2002 class 1–5) on the station")
    frame = series(session, station_code)
    local_year = pd.to_datetime(frame["observed_at"], utc=True).dt.tz_convert(LOCAL_TZ).dt.year
    frame = frame[local_year == year]
    if frame.empty:
        raise NotFound(f"station {station_code} has no readings in {year}",
                       hint="ingest the year's readings first")
    monthly = water_quality.classify_periods(frame, "month", station.water_body)
    annual = water_quality.classify_periods(frame, "year", station.water_body)
    meeting = int((monthly["water_class"] <= station.target_class).sum())
    annual_class = int(annual.iloc[0]["water_class"])
    return {"station": station.code, "year": year, "target_class": station.target_class,
            "annual_class": annual_class, "meets_annual": annual_class <= station.target_class,
            "annual_determining": annual.iloc[0]["determining"],
            "months_assessed": len(monthly), "months_meeting": meeting,
            "monthly_fraction": meeting / len(monthly) if len(monthly) else None}


def check_targets(session: Session, station: Station, month: str) -> list[str]:
    """Alert if the station's class in ``month`` (and its year so far) is worse than target."""
    if station.kind != "water_quality" or station.target_class is None:
        return []
    frame = series(session, station.code)
    if frame.empty:
        return []
    out = []
    for freq, period in (("month", month), ("year", month[:4])):
        classes = water_quality.classify_periods(frame, freq, station.water_body)
        row = classes[classes["period"] == period]
        if row.empty:
            continue
        cls = int(row.iloc[0]["water_class"])
        if cls > station.target_class:
            label = "month" if freq == "month" else "year to date"
            out += raise_alert(
                session, "below_target", station, period, row.iloc[0]["determining"],
                f"{station.name} ({station.code}) {label} {period}: class "
                f"{water_quality.ROMAN[cls]} is worse than target class "
                f"{water_quality.ROMAN[station.target_class]} (set by "
                f"{row.iloc[0]['determining']}; GB 3838-2002 single-factor)")
    return out


def alerts(session: Session, *, region_code: str | None = None,
           kind: str | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id)
    if region_code:
        query = query.where(Alert.region_code.startswith(region_code))
    if kind:
        query = query.where(Alert.kind == kind)
    return list(session.scalars(query))
