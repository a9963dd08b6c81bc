"""``fetch(name)``: download a data set's public files with checksum verification (pooch)."""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path

from maflow.data.loader import default_data_dir, get_spec
from maflow.data.spec import Download
from maflow.errors import DataError
from maflow.utils.io import atomic_write

__all__ = ["fetch"]


def _retrieve(download: Download, folder: Path) -> Path:
    import pooch

    try:
        return Path(
            pooch.retrieve(
                download.url,
                download.known_hash,
                fname=download.filename,
                path=folder,
                progressbar=sys.stderr.isatty(),  # tqdm on a terminal, nothing in logs
            )
        )
    except ValueError as error:  # pooch's hash mismatch (it has already removed the file)
        raise DataError(
            f"{download.url}: the download does not match its published checksum ({error})"
        ) from None
    except Exception as error:  # noqa: BLE001 (no network, HTTP errors, proxies: all mean the same to the user)
        raise DataError(
            f"cannot download {download.url} ({type(error).__name__}: {str(error)[:200]})"
        ) from None


def _extract(archive: Path, member_suffix: str, target: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                if member.isfile() and (
                    member.name == member_suffix or member.name.endswith("/" + member_suffix)
                ):
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    atomic_write(target, lambda f: shutil.copyfileobj(source, f, 1 << 20))
                    return
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"cannot read {archive} ({error}); delete it and fetch again") from None
    raise DataError(f"{archive} has no member {member_suffix}; it is not the expected archive")


def fetch(name: str, data_dir: str | os.PathLike | None = None, force: bool = False) -> list[Path]:
    """Downloads the public files of data set ``name`` into ``<data_dir>/<folder>/``.

    Files already there are kept unless ``force``. Archives go to ``<data_dir>/downloads/`` and only
    the needed members are extracted. Returns the paths written or found. Raises DataError naming
    the files and the folder to put them in when the download fails (for example without network).
    """
    spec = get_spec(name)
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if spec.embedded or spec.folder is None:
        return []
    folder = data_dir / spec.folder
    if not spec.downloads:
        raise DataError(
            f"{name} has no public download that maflow knows; source: {spec.source}. "
            f"Put the files ({', '.join(spec.layouts[0].files)}) into {folder}"
        )
    paths = []
    for download in spec.downloads:
        targets = [folder / target for target in download.extract.values()] or [folder / download.filename]
        if not force and all(target.is_file() for target in targets):
            paths.extend(targets)
            continue
        where = data_dir / "downloads" if download.extract else folder
        try:
            where.mkdir(parents=True, exist_ok=True)
            if force:
                (where / download.filename).unlink(missing_ok=True)
            fetched = _retrieve(download, where)
        except (DataError, OSError) as error:
            files = ", ".join(target.name for target in targets)
            raise DataError(
                f"{name}: {error}\nDownload {download.url} yourself and put {files} into {folder} "
                f"(or point --data-dir / MAFLOW_DATA at a folder that holds {spec.folder}/)."
            ) from None
        if not download.known_hash:
            print(f"maflow data fetch: warning: no published checksum for {download.url}; not verified")
        for member, target in download.extract.items():
            _extract(fetched, member, folder / target)
        paths.extend(targets)
    return paths
