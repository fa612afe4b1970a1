"""The data manifest: entries, paths, downloads (from a local HTTP server) with checksums and retries, clear errors."""

import hashlib
import http.server
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import make_set

from liverkit import LiverkitError
from liverkit.data import manifest


def _write(tmp_path, body):
    path = tmp_path / "manifest.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def _medmnist_file(path, n=6):
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2)[:, None]
    np.savez(path, **arrays)
    return path


def test_repo_manifest_lists_phantom_and_public_sets():
    entries = manifest.read_manifest()
    assert entries["phantom"].reader == "phantom"
    public = entries["organamnist-64"]
    assert public.url.startswith("https://") and len(public.md5) == 32 and public.licence == "CC BY 4.0"
    assert len(public.options["class_names"]) == 11


def test_phantom_is_built_in_without_a_manifest(tmp_path, monkeypatch):
    path = _write(tmp_path, "datasets: {}\n")
    assert set(manifest.read_manifest(path)) == {"phantom"}


def test_load_lesionset_entry_and_npz_path(tmp_path, monkeypatch):
    s = make_set([0, 1, 2])
    s.save(tmp_path / "data" / "mine.npz")
    path = _write(tmp_path, "datasets:\n  mine: {reader: lesionset, path: mine.npz}\n")
    assert manifest.load("mine", manifest=path).fingerprint() == s.fingerprint()
    assert manifest.load(str(tmp_path / "data" / "mine.npz")).fingerprint() == s.fingerprint()
    monkeypatch.setenv("LIVERKIT_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(LiverkitError, match=r"elsewhere/mine.npz' does not exist"):
        manifest.load("mine", manifest=path)


def test_unknown_entry_lists_known_ones(tmp_path):
    path = _write(tmp_path, "datasets:\n  mine: {reader: lesionset, path: mine.npz}\n")
    with pytest.raises(LiverkitError, match=r"no data set 'nope'.*known: \['mine', 'phantom'\]"):
        manifest.load("nope", manifest=path)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("datasets:\n  x: {reader: magic, path: a}\n", "reader 'magic' is not one of"),
        ("datasets:\n  x: {reader: folder}\n", "entry 'x': reader 'folder' needs a 'path'"),
        ("datasets:\n  x: {reader: folder, path: a, colour: red}\n", r"unknown field\(s\) \['colour'\]"),
        ("datasets:\n  x: {reader: folder, path: a, options: [1, 2]}\n", "'options' must be a mapping"),
        ("datasets: [1, 2]\n", "must be a mapping with a 'datasets' mapping"),
        ("datasets:\n  x: {reader: folder\n", "not valid YAML"),
    ],
)
def test_bad_entries_are_named(tmp_path, body, match):
    with pytest.raises(LiverkitError, match=match):
        manifest.read_manifest(_write(tmp_path, body))


def test_every_field_of_a_well_typed_entry_is_kept(tmp_path):
    path = _write(
        tmp_path,
        """
        datasets:
          pub:
            reader: medmnist
            description: "2024"
            path: downloads/pub.npz
            url: https://example.org/pub.npz
            md5: "00a1b2c3d4e5f60718293a4b5c6d7e8f"
            licence: CC BY 4.0
            size_mb: 0
            options: {class_names: [a, b]}
            augment: {n_flip: 0}
          bare: {reader: folder, path: rois, description: , options: , augment: }
        """,
    )
    entries = manifest.read_manifest(path)
    pub, bare = entries["pub"], entries["bare"]
    assert (pub.description, pub.md5, pub.licence) == ("2024", "00a1b2c3d4e5f60718293a4b5c6d7e8f", "CC BY 4.0")
    assert pub.options == {"class_names": ["a", "b"]} and pub.augment == {"n_flip": 0}
    assert (bare.description, bare.options, bare.augment, bare.md5) == ("", {}, {}, None)


def test_a_data_root_given_as_the_working_folder_holds_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVERKIT_DATA", ".")
    entry = manifest.read_manifest(_write(tmp_path, "datasets:\n  x: {reader: folder, path: rois}\n"))["x"]
    assert entry.path == Path("rois")


def test_missing_public_file_explains_how_to_get_it(tmp_path):
    path = _write(
        tmp_path,
        """
        datasets:
          pub:
            {reader: medmnist, path: downloads/pub.npz, url: "file:///nowhere/pub.npz",
             md5: "0123456789abcdefABCDEF0123456789"}
        """,
    )
    with pytest.raises(LiverkitError, match=r"not on disk.*download=True.*liverkit data fetch pub"):
        manifest.load("pub", manifest=path)


class _Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1; ``fail[path]`` requests to a path answer 503 first."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, int] = {}
        self.hits: dict[str, int] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server calls
        server = self.server
        server.hits[self.path] = server.hits.get(self.path, 0) + 1
        if server.fail.get(self.path, 0) > 0:
            server.fail[self.path] -= 1
            self.send_error(503, "busy, try again")
            return
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server in a thread: downloads are tested offline."""
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_verifies_checksum_and_is_atomic(tmp_path, server, monkeypatch):
    monkeypatch.setattr(manifest, "DOWNLOAD_RETRIES", 0)  # a wrong checksum would be tried again, after 1 s, 2 s
    source = _medmnist_file(tmp_path / "served.npz")
    server.files["/served.npz"] = source.read_bytes()
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    url = server.url("served.npz")
    body = f"""
        datasets:
          good: {{reader: medmnist, path: downloads/good.npz, url: "{url}", md5: "{md5}"}}
          bad: {{reader: medmnist, path: downloads/bad.npz, url: "{url}", md5: "{"0" * 32}"}}
        """
    path = _write(tmp_path, body)
    with pytest.warns(UserWarning, match="patient"):
        lesions = manifest.load("good", manifest=path, download=True)
    assert len(lesions) == 18 and lesions.images.shape == (18, 1, 64, 64)
    assert (tmp_path / "data" / "downloads" / "good.npz").read_bytes() == source.read_bytes()
    with pytest.raises(LiverkitError, match=r"checksum mismatch for the download of http://127\.0\.0\.1.*served.npz"):
        manifest.load("bad", manifest=path, download=True)
    assert not (tmp_path / "data" / "downloads" / "bad.npz").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "downloads").iterdir()) == ["good.npz"]
    assert server.hits == {"/served.npz": 2}


def test_a_failing_server_is_retried(tmp_path, server):
    server.files["/flaky.bin"] = payload = b"lesions" * 1000
    md5 = hashlib.md5(payload).hexdigest()
    server.fail["/flaky.bin"] = 1
    failed = r"could not download http://.*flaky.bin \(503 Server Error.*tried 1 time\)"
    with pytest.raises(LiverkitError, match=failed):
        manifest.fetch(server.url("flaky.bin"), tmp_path / "once" / "flaky.bin", md5, retries=0)
    assert not (tmp_path / "once" / "flaky.bin").exists()
    server.fail["/flaky.bin"], server.hits = 1, {}
    saved = manifest.fetch(server.url("flaky.bin"), tmp_path / "twice" / "flaky.bin", md5, retries=1)
    assert saved.read_bytes() == payload and server.hits == {"/flaky.bin": 2}  # a 503, then the file


def test_a_download_without_checksum_and_an_address_pooch_cannot_fetch(tmp_path, server):
    server.files["/plain.bin"] = b"abc"
    assert manifest.fetch(server.url("plain.bin"), tmp_path / "plain.bin").read_bytes() == b"abc"
    with pytest.raises(LiverkitError, match=r"cannot download file:///x.npz.*http:// and https://.*Copy the file to"):
        manifest.fetch("file:///x.npz", tmp_path / "x.npz")


def test_data_fetch_command_downloads_and_verifies(tmp_path, server, capsys):
    from liverkit.kit.cli import main

    server.files["/set.npz"] = data = _medmnist_file(tmp_path / "set.npz").read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    folder = tmp_path / "other"
    folder.mkdir()
    entry = f'{{reader: medmnist, path: s.npz, url: "{server.url("set.npz")}", md5: "{md5}"}}'
    path = _write(folder, f"datasets:\n  s: {entry}\n")
    assert main(["data", "fetch", "s", "--manifest", str(path)]) == 0
    assert "s.npz (checksum verified)" in capsys.readouterr().out
    assert (folder / "data" / "s.npz").read_bytes() == data


def test_corrupted_local_file_fails_checksum(tmp_path):
    local = _medmnist_file(tmp_path / "data" / "x.npz")
    path = _write(tmp_path, f'datasets:\n  x: {{reader: medmnist, path: x.npz, md5: "{"f" * 32}"}}\n')
    with pytest.raises(LiverkitError, match=r"checksum mismatch for '.*x.npz'.*delete it and fetch it again"):
        manifest.load("x", manifest=path)
    assert local.is_file()


def test_offline_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "DOWNLOAD_RETRIES", 0)
    path = _write(tmp_path, 'datasets:\n  x: {reader: medmnist, path: x.npz, url: "http://127.0.0.1:9/x.npz"}\n')
    with pytest.raises(LiverkitError, match=r"could not download .*offline, download the file elsewhere"):
        manifest.load("x", manifest=path, download=True)


def test_reader_options_that_do_not_exist(tmp_path):
    _medmnist_file(tmp_path / "data" / "x.npz")
    path = _write(tmp_path, "datasets:\n  x: {reader: medmnist, path: x.npz, options: {colour: red}}\n")
    with pytest.raises(LiverkitError, match="reader 'medmnist' got options it does not take"):
        manifest.load("x", manifest=path)


def test_manifest_env_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVERKIT_MANIFEST", str(tmp_path / "none.yaml"))
    with pytest.raises(LiverkitError, match=r"\$LIVERKIT_MANIFEST points to"):
        manifest.read_manifest()
    monkeypatch.setenv("LIVERKIT_MANIFEST", str(_write(tmp_path, "datasets:\n  y: {reader: lesionset, path: y.npz}\n")))
    assert set(manifest.read_manifest()) == {"phantom", "y"}


def test_phantom_entry_passes_options(tmp_path):
    path = _write(
        tmp_path, "datasets:\n  tiny: {reader: phantom, options: {n_cyst: 3, n_metastasis: 3, n_hemangioma: 4}}\n"
    )
    lesions = manifest.load("tiny", manifest=path, seed=1)
    assert lesions.class_counts() == {"cyst": 3, "metastasis": 3, "hemangioma": 4}
    assert manifest.load("tiny", manifest=path, seed=1, n_cyst=5).class_counts()["cyst"] == 5


def test_data_list_shows_each_licence(capsys):
    from liverkit.kit.cli import main

    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("(CC BY 4.0)") == 3 and "(MIT (generated by liverkit))" in out


def test_data_check_reads_the_data_and_summarises_it(tmp_path, capsys):
    from liverkit.kit.cli import main

    _medmnist_file(tmp_path / "data" / "x.npz", n=4)
    path = _write(tmp_path, "datasets:\n  x: {reader: medmnist, path: x.npz, options: {class_names: [bad, good]}}\n")
    with pytest.warns(UserWarning, match="no patient ids"):
        assert main(["data", "check", "x", "--manifest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "x.npz'): read 12 lesions of 12 patients" in out
    assert "classes (2): bad 6, good 6" in out and "images: 64 x 64 pixels" in out
    assert "diameters: known for 0 of 12 lesions" in out


def test_duplicate_manifest_key_is_refused_with_its_line(tmp_path):
    path = _write(tmp_path, "datasets:\n  a: {reader: phantom}\n  b: {reader: phantom}\n  a: {reader: phantom}\n")
    with pytest.raises(LiverkitError, match=r"line 4: key 'a' is given twice \(first on line 2\)"):
        manifest.read_manifest(path)


def test_absolute_manifest_path_may_be_anywhere(tmp_path):
    outside = tmp_path / "elsewhere" / "s.npz"
    make_set([0, 1]).save(outside)
    path = _write(tmp_path, f"datasets: {{s: {{reader: lesionset, path: {outside}}}}}")
    assert manifest.get_entry("s", path).path == outside and len(manifest.load("s", path)) == 2


def test_top_level_manifest_is_the_packaged_file():
    packaged = manifest._PACKAGED_MANIFEST
    assert packaged.parent.name == "data" and packaged.parent.parent.name == "liverkit"
    assert manifest._REPO_MANIFEST.resolve() == packaged and manifest.manifest_path() == manifest._REPO_MANIFEST
    assert manifest.data_root(manifest._REPO_MANIFEST) == manifest._REPO_MANIFEST.parent / "data"


def test_packaged_manifest_is_used_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "_REPO_MANIFEST", tmp_path / "no-checkout" / "data_manifest.yaml")
    monkeypatch.delenv("LIVERKIT_MANIFEST", raising=False)
    monkeypatch.delenv("LIVERKIT_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert manifest.manifest_path() == manifest._PACKAGED_MANIFEST
    entry = manifest.get_entry("organamnist-64")
    assert entry.path == tmp_path / "home" / ".liverkit" / "data" / "downloads" / "organamnist_64.npz"
    monkeypatch.setenv("LIVERKIT_DATA", str(tmp_path / "store"))
    assert manifest.get_entry("organamnist-64").path == tmp_path / "store" / "downloads" / "organamnist_64.npz"
    assert not (tmp_path / "home").exists()  # nothing is made until a fetch
