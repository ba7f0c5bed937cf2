"""An uploaded study area: a zip of the study-area folder (docs/study-area.md), checked
before anything of it is used.

Refused, each with a message that says what and how to fix it: a file that is not a
zip, a zip larger than ``LIANGSHAN_UPLOAD_MAX_MB`` (compressed, or uncompressed
beyond :data:`MAX_EXPANSION` times that — a "zip bomb"), more than
:data:`MAX_MEMBERS` files, member names that would land outside the target folder
(absolute paths, ``..``, drive letters, backslashes), links, a corrupt member (CRC),
no ``study.toml`` at the top or in one top folder, and then whatever
:meth:`StudyArea.open` and :meth:`StudyArea.validate` refuse. Error messages name
the member inside the zip, never the server's folders.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from liangshan.config import get_settings
from liangshan.datasets.study import MANIFEST, StudyArea
from liangshan.errors import InvalidInput

#: Most files a study-area zip may hold.
MAX_MEMBERS = 10_000
#: Uncompressed size may be at most this many times the upload limit.
MAX_EXPANSION = 10
CHUNK = 1 << 20


def max_bytes() -> int:
    """The upload limit in bytes (``LIANGSHAN_UPLOAD_MAX_MB`` × 10⁶)."""
    return get_settings().upload_max_mb * 1_000_000


def too_large(size: int, name: str) -> InvalidInput:
    limit = get_settings().upload_max_mb
    return InvalidInput(f"the upload {name!r} is larger than the limit of {limit} MB "
                        f"({size:,} bytes or more)",
                        hint="leave out files the study area does not list, or ask the "
                        "operator to raise LIANGSHAN_UPLOAD_MAX_MB")


def save_upload(source: BinaryIO, target: Path, name: str) -> Path:
    """Copy the uploaded stream to ``target``, refusing it once it passes the limit."""
    limit = max_bytes()
    written = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise too_large(written, name)
            out.write(chunk)
    if written == 0:
        target.unlink(missing_ok=True)
        raise InvalidInput(f"the upload {name!r} is empty",
                           hint="choose the zip of a study-area folder")
    return target


def _safe_member(info: zipfile.ZipInfo, name: str) -> PurePosixPath | None:
    """The member's relative path, or None for a folder entry; refuses unsafe names."""
    raw = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InvalidInput(f"{name}: member {raw!r} is a symbolic link; links are not accepted",
                           hint="zip the files themselves (zip without --symlinks)")
    path = PurePosixPath(raw)
    if ("\\" in raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":")
            or any(part in ("..", "") for part in path.parts) or "\x00" in raw):
        raise InvalidInput(f"{name}: member {raw!r} would be written outside the study folder",
                           hint="zip the study-area folder with relative paths only")
    return None if info.is_dir() else path


def _study_root(paths: list[PurePosixPath], name: str) -> PurePosixPath:
    """Where study.toml is: at the top of the zip, or inside its one top folder."""
    tops = [p for p in paths if p.name == MANIFEST and len(p.parts) <= 2]
    if not tops:
        raise InvalidInput(f"{name}: no {MANIFEST} at the top of the zip or in its top folder",
                           hint="zip the study-area folder itself (docs/study-area.md): "
                           f"{MANIFEST}, zones.gpkg, rasters/, tables/")
    if len(tops) > 1:
        raise InvalidInput(f"{name}: several {MANIFEST} files "
                           f"({', '.join(str(t) for t in tops)}); one study area per zip",
                           hint="upload one study-area folder at a time")
    return tops[0].parent


def extract_study(archive: Path, target: Path, name: str) -> Path:
    """Check and extract the zip ``archive`` into the empty folder ``target``; return the
    study-area root inside it."""
    if not zipfile.is_zipfile(archive):
        raise InvalidInput(f"{name!r} is not a zip file",
                           hint="upload a .zip of the study-area folder (docs/study-area.md)")
    budget = max_bytes() * MAX_EXPANSION
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InvalidInput(f"{name}: {len(infos):,} files, more than {MAX_MEMBERS:,}",
                                   hint="a study area needs far fewer files; zip only it")
            files = [(info, p) for info in infos if (p := _safe_member(info, name)) is not None]
            root = _study_root([p for _, p in files], name)
            total = sum(info.file_size for info, _ in files)
            if total > budget:
                raise InvalidInput(f"{name}: the files unpack to {total:,} bytes, more than "
                                   f"{budget:,}", hint="upload a smaller study area")
            target.mkdir(parents=True, exist_ok=False)
            written = 0
            for info, rel in files:
                dest = target.joinpath(*rel.parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > budget:  # sizes in the header can lie
                            raise InvalidInput(f"{name}: unpacks to more than {budget:,} bytes",
                                               hint="upload a smaller study area")
                        out.write(chunk)
    except zipfile.BadZipFile as exc:  # raised by a CRC mismatch while reading a member
        raise InvalidInput(f"{name}: the zip is damaged ({exc})",
                           hint="create the zip again and upload it again") from None
    return target.joinpath(*root.parts)


def open_uploaded(archive: Path, target: Path, name: str) -> StudyArea:
    """Extract and open the study area, with the deep checks; messages name the upload,
    not the server's folder. On refusal the extracted files are removed."""
    try:
        root = extract_study(archive, target, name)
        try:
            study = StudyArea.open(root)
            study.validate()
        except InvalidInput as exc:
            raise InvalidInput(str(exc.message).replace(str(root), name),
                               hint=exc.hint) from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return study
