import io
import tarfile

import numpy as np
import pytest

from maflow.data import load
from maflow.data.fetch import fetch
from maflow.errors import DataError
from tests.data.writers import write_made_npz


def test_fetch_without_network_names_files_and_folder(tmp_path, monkeypatch):
    def offline(url, known_hash, fname, path, progressbar):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr("pooch.retrieve", offline)
    with pytest.raises(DataError) as info:
        fetch("mnist", tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "mnist") in message
    assert "ConnectionError" in message and "https://" in message


def test_fetch_passes_the_published_hash_and_then_loads(tmp_path, monkeypatch):
    seen = []

    def fake_retrieve_to_folder(url, known_hash, fname, path, progressbar):
        seen.append((url, known_hash))
        write_made_npz(path / fname, 126)
        return str(path / fname)

    monkeypatch.setattr("pooch.retrieve", fake_retrieve_to_folder)
    paths = fetch("connect4", tmp_path)
    assert paths == [tmp_path / "made_uci_binary" / "connect4.npz"]
    assert load("connect4", tmp_path).features == 126
    assert fetch("connect4", tmp_path) == paths and len(seen) == 1  # present: not downloaded again


def test_fetch_bad_checksum_is_reported(tmp_path, monkeypatch):
    def mismatch(url, known_hash, fname, path, progressbar):
        raise ValueError(f"{known_hash} does not match")

    monkeypatch.setattr("pooch.retrieve", mismatch)
    with pytest.raises(DataError, match="does not match its published checksum"):
        fetch("binarized_mnist", tmp_path)


def test_fetch_extracts_members_of_the_maf_archive(tmp_path, monkeypatch):
    raw = np.random.RandomState(0).randn(50, 43)

    def fake_archive(url, known_hash, fname, path, progressbar):
        buffer = io.BytesIO()
        np.save(buffer, raw)
        with tarfile.open(path / fname, "w:gz") as tar:
            info = tarfile.TarInfo("data/miniboone/data.npy")
            info.size = len(buffer.getvalue())
            tar.addfile(info, io.BytesIO(buffer.getvalue()))
        return str(path / fname)

    monkeypatch.setattr("pooch.retrieve", fake_archive)
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    assert fetch("miniboone", tmp_path) == [tmp_path / "miniboone" / "data.npy"]
    assert (tmp_path / "downloads" / "maf-data.tar.gz").is_file()
    assert load("miniboone", tmp_path).features == 43


def test_embedded_sets_need_no_fetch(tmp_path):
    assert fetch("digits", tmp_path) == []
