"""`artstore ui` route tests (Starlette's TestClient on real stores), the folder listing,
preview caps and lineage layout as units, and the command as a real subprocess."""

import hashlib
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import ui_store
from conftest import run_cli, write_tree

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from artstore import Store  # noqa: E402
from artstore.ingest import InMemory  # noqa: E402
from artstore.ui import folders, lineage_svg, preview  # noqa: E402
from artstore.ui.app import LOOPBACK_HOSTS, create_app  # noqa: E402
from artstore.ui.views import common  # noqa: E402

BIG = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    big = (b"0123456789abcdef" * 4 + b"\n") * (BIG // 65 + 1)
    return ui_store.build(tmp_path_factory.mktemp("ui") / "proj", big_file=big[:BIG])


@pytest.fixture(scope="module")
def client(root):
    with TestClient(create_app(str(root / ".artstore"))) as c:
        yield c


PAGES = [
    "/", "/?q=mni", "/?search=demo", "/?type=model", "/?tag=raw", "/?where=source%3Ddemo", "/runs",
    "/a/demo/mnist", "/a/demo/mnist?cols=source,metrics.acc", "/a/demo/mnist/1.0.0", "/a/demo/mnist/baseline",
    "/a/demo/mnist/latest", "/a/demo/mnist/1.0.0/lineage", "/a/demo/mnist/1.0.0/lineage?depth=4",
    "/a/demo/mnist/1.0.0/files/data", "/a/demo/mnist/1.0.0/files/data/images/",
    "/a/demo/mnist/1.0.0/files/data/labels.csv", "/a/demo/mnist/1.0.0/files/README.txt",
    "/a/demo/mnist/1.0.0/files/config.json", "/a/demo/mnist/1.0.0/files/weights.bin",
    "/a/demo/mnist/1.0.0/files/data/images/cat.png", "/a/demo/mnist/1.0.0/files/data/images/drawing.svg",
    "/compare/demo/mnist:1.0.0...demo/mnist:2.0.0", "/compare/demo/mnist:2.0.0...demo/model:1.0.0",
    "/a/demo/model/1.0.0", "/a/demo/big/1.0.0/files/big.txt",
]
HEADERS = {
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def check_headers(response):
    for name, value in HEADERS.items():
        assert value in response.headers.get(name, ""), (name, response.headers)


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_with_the_security_headers(client, url):
    r = client.get(url)
    assert r.status_code == 200, r.text[-2000:]
    assert r.headers["content-type"].startswith("text/html")
    check_headers(r)
    assert "<script" not in r.text.lower()  # the pages carry no script at all


@pytest.mark.parametrize("url", PAGES)
def test_every_page_gives_its_data_as_json(client, url):
    r = client.get(url + ("&" if "?" in url else "?") + "format=json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    check_headers(r)
    data = r.json()
    assert '"svg":' not in json.dumps(data)  # the lineage graph's data, not its drawing


def test_json_pages_hold_the_data_the_html_shows(client):
    versions = client.get("/a/demo/mnist?format=json").json()
    assert [v["version"] for v in versions["versions"]] == ["2.0.0", "1.0.0"]
    version = client.get("/a/demo/mnist/1.0.0?format=json").json()
    assert version["v"]["aliases"] == ["baseline"] and version["v"]["metadata"]["source"] == "demo"
    assert [r["name"] for r in version["listing"]["rows"]] == ["README.txt", "config.json", "data", "weights.bin"]
    assert {n["label"] for n in version["lineage"]["graph"]["nodes"]} >= {"prepare", "train", "demo/mnist:1.0.0"}
    diff = client.get("/compare/demo/mnist:1.0.0...demo/mnist:2.0.0?format=json").json()
    assert diff["counts"] == {"added": 1, "removed": 1, "modified": 1, "unchanged": 4}
    missing = client.get("/a/demo/mnist/7.0.0?format=json")
    assert missing.status_code == 404 and "has no version 7.0.0" in missing.json()["error"]
    hostile = client.get(hostile_pages(client)[4] + "?format=json")
    assert hostile.headers["content-type"] == "application/json"  # data as it is, never read as HTML
    assert hostile.json()["v"]["metadata"][ui_store.SCRIPT] == ui_store.IMG


@pytest.mark.parametrize("url", [
    "/nope", "/a/demo/nope", "/a/demo/mnist/9.9.9", "/a/demo/mnist/nope", "/a/nobody/mnist",
    "/a/demo/mnist/1.0.0/files/nope.txt", "/a/demo/mnist/1.0.0/files/%2e%2e/%2e%2e/etc/passwd",
    "/a/demo/mnist/1.0.0/files/data//labels.csv", "/a/demo/mnist/1.0.0/files/.artstore/config",
    "/a/demo/mnist/1.0.0/files/%00", "/a/demo/mnist/1.0.0/raw/nope", "/a/demo/mnist/1.0.0/raw/data",
    "/compare/garbage", "/compare/demo/mnist:1.0.0...demo/mnist:7.0.0", "/runs/nope", "/a/de%3Amo/mnist",
    "/a/demo/mnist/1.0.0/files/data/labels.csv/more",
])
def test_what_names_nothing_is_a_404_page(client, url):
    r = client.get(url)
    assert r.status_code == 404, r.text[-1000:]
    assert "Traceback" not in r.text and "Not found" in r.text
    check_headers(r)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("url", ["/", "/a/demo/mnist/1.0.0", "/nope"])
def test_only_get_and_head_are_answered(client, method, url):
    r = client.request(method, url)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    check_headers(r)


def test_head_and_static_files(client):
    assert client.head("/a/demo/mnist/1.0.0").status_code == 200
    r = client.get("/static/style.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    check_headers(r)
    assert "http" not in r.text.replace("http://www.w3.org", "")  # no external resource


def hostile_pages(client):
    """Every page that shows a hostile name, path, tag, alias or metadata."""
    link = "/a/demo/" + quote(ui_store.HOSTILE_NAME, safe="")
    art = client.get("/").text
    assert f'href="{link}"' in art and ui_store.HOSTILE_NAME not in art
    version = link + "/1.0.0"
    parts = [quote(p, safe="") for p in ui_store.HOSTILE_PATH.split("/")]
    folder = version + "/files/" + "/".join(parts[:-1])
    file = version + "/files/" + "/".join(parts)
    rtl = version + "/files/" + quote(ui_store.RTL, safe="")
    return ["/", "/runs", link, link + "?cols=" + quote(ui_store.SCRIPT, safe=""), version, version + "/lineage",
            folder, file, rtl, "/?tag=" + quote(ui_store.RTL, safe="")]


def test_hostile_names_paths_and_metadata_render_inert(client):
    pages = hostile_pages(client)
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[-1000:])
        body = re.sub(r"<form .*?</form>", "", r.text, flags=re.S)  # the user's own query stays as typed
        assert "<script" not in body.lower(), url
        assert "<img src=x" not in body and "onerror=alert" not in body.replace("onerror=alert(", "ESC"), url
        assert "\u202e" not in body and "\u200b" not in body, url  # bidi and zero-width shown, not obeyed
    file_page = client.get(pages[7]).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in file_page  # the file's content, as text
    version_page = client.get(pages[4]).text
    assert "U+202E" in version_page and "&lt;img src=x onerror=alert(3)&gt;" in version_page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in version_page  # metadata value and alias


def test_every_link_on_every_page_leads_to_a_page(client):
    """Crawl the site from / (hostile names included): every link a page makes answers 200,
    so names, versions and paths are encoded into links and decoded back the same."""
    seen, todo, failed = set(), ["/"], []
    while todo and len(seen) < 600:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url)
        if r.status_code != 200:
            failed.append((url, r.status_code))
        if r.headers["content-type"].startswith("text/html"):
            for link in re.findall(r'href="(/[^"]*)"', r.text):
                link = html.unescape(link)
                if link not in seen and not link.startswith("/static/"):
                    todo.append(link)
    assert failed == []
    assert len(seen) > 150  # the crawl reached the versions, files, compares and runs


def test_links_never_come_from_the_host_header(client):
    r = client.get("/a/demo/mnist/1.0.0", headers={"Host": "evil.example:666"})
    assert r.status_code == 200 and "evil.example" not in r.text
    assert 'href="/a/demo/mnist/1.0.0/files/data"' in r.text


def test_a_loopback_server_refuses_other_host_names(root):
    """DNS rebinding: a page on another origin that resolves to 127.0.0.1 gets nothing."""
    with TestClient(create_app(str(root / ".artstore"), allowed_hosts=LOOPBACK_HOSTS)) as c:
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 400
        assert c.get("/", headers={"Host": "127.0.0.1:8017"}).status_code == 200
        assert c.get("/", headers={"Host": "localhost"}).status_code == 200


def test_previews_read_at_most_the_cap(client):
    r = client.get("/a/demo/big/1.0.0/files/big.txt")
    assert r.status_code == 200
    assert preview.PREVIEW_BYTES < len(r.content) < preview.PREVIEW_BYTES + 20_000
    assert "The first 64.0 KiB of 5.0 MiB" in r.text


def test_preview_reads_only_the_first_chunks(root, monkeypatch):
    store = Store.open(root)
    read = []
    original = store.read_asset

    def counting(ref, path):
        for chunk in original(ref, path):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(store, "read_asset", counting)
    head, truncated = preview.read_head(store, "demo/big:1.0.0", "big.txt")
    store.close()
    assert truncated and len(head) == preview.PREVIEW_BYTES
    assert sum(read) <= 256 * 1024 < BIG  # one chunk at most (FastCDC's largest), not 5 MB


def test_raw_serves_images_inline_and_everything_else_as_a_download(client):
    png = client.get("/a/demo/mnist/1.0.0/raw/data/images/cat.png")
    assert png.headers["content-type"] == "image/png" and "content-disposition" not in png.headers
    assert png.content == ui_store.png_bytes()
    for path in ("data/images/drawing.svg", "README.txt", "weights.bin"):
        r = client.get(f"/a/demo/mnist/1.0.0/raw/{path}")
        assert r.headers["content-type"] == "application/octet-stream", path
        assert r.headers["content-disposition"].startswith("attachment;"), path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == ui_store.dataset_files()[path]
    big = client.get("/a/demo/big/1.0.0/raw/big.txt")
    assert len(big.content) == BIG == int(big.headers["content-length"])


def test_image_types_need_the_bytes_to_agree_with_the_name():
    assert preview.image_type("a.png", ui_store.png_bytes()) == "image/png"
    assert preview.image_type("a.png", b"<svg onload=alert(1)>") is None
    assert preview.image_type("a.svg", b"<svg/>") is None
    assert preview.image_type("a.webp", b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert preview.image_type("a.webp", b"RIFF\0\0\0\0AVI ") is None


def test_the_files_root_is_the_version_page(client):
    r = client.get("/a/demo/mnist/baseline/files/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/a/demo/mnist/1.0.0"


def test_a_remote_reference_shows_where_its_bytes_are(client):
    listing = client.get("/a/demo/refs/1.0.0").text
    assert "train.csv</a> <span class=\"label remote\">remote</span>" in listing
    page = client.get("/a/demo/refs/1.0.0/files/train.csv")
    assert page.status_code == 200 and "s3://bucket/data/train.csv" in page.text
    assert "remote reference, not fetched" in page.text and "Preview" not in page.text
    assert client.get("/a/demo/refs/1.0.0/raw/train.csv").status_code == 404


def test_csv_and_json_previews(client):
    csv_page = client.get("/a/demo/mnist/1.0.0/files/data/labels.csv").text
    table = csv_page.split('<table class="csv">')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + preview.CSV_ROWS  # header + first rows
    json_page = client.get("/a/demo/mnist/1.0.0/files/config.json").text
    assert '&quot;layers&quot;: [\n    1,' in json_page  # pretty-printed
    binary = client.get("/a/demo/mnist/1.0.0/files/weights.bin").text
    assert "Binary file: no preview" in binary


def test_artifacts_filters(client):
    assert "demo/model" not in client.get("/?q=mni").text
    by_type = client.get("/?type=model").text
    assert "demo/model" in by_type and "demo/mnist" not in by_type
    tagged = client.get("/?tag=raw").text
    assert "demo/mnist:1.0.0" in tagged and "demo/mnist:2.0.0" not in tagged
    assert "2 version(s) match" in client.get("/?where=source%3Ddemo").text
    better = client.get("/?where=metrics.acc%3E0.8").text
    assert "demo/mnist:2.0.0" in better and "demo/mnist:1.0.0" not in better
    found = client.get("/?search=torch").text
    assert "demo/model:1.0.0" in found and "demo/mnist:1.0.0" not in found and "[torch]" in found
    hostile = client.get("/?search=" + quote(ui_store.SCRIPT)).text
    assert "<script" not in hostile.lower().split("<form", 1)[0] + hostile.lower().split("</form>", 1)[1]
    bad = client.get("/?where=%3D%3D%3D")
    assert bad.status_code == 200 and 'class="error"' in bad.text


def test_artifact_page_versions_newest_first_with_columns_and_pages(client, monkeypatch):
    page = client.get("/a/demo/mnist?cols=source,metrics.acc").text
    assert page.index(">2.0.0<") < page.index(">1.0.0<")
    assert '<th class="meta">metrics.acc</th>' in page and '<td class="meta">0.9</td>' in page
    assert "baseline" in page and "prepare" in page and "raw" in page
    monkeypatch.setattr(common, "PAGE", 1)
    first = client.get("/a/demo/mnist").text
    second = client.get("/a/demo/mnist?page=2").text
    assert ">2.0.0<" in first and ">1.0.0<" not in first and "page 1 of 2" in first
    assert ">1.0.0<" in second and ">2.0.0<" not in second


def test_version_page(client):
    page = client.get("/a/demo/mnist/1.0.0").text
    for text in ("baseline", "raw", "prepare", "with next (2.0.0)", "&quot;source&quot;: &quot;demo&quot;",
                 'href="/a/demo/mnist/1.0.0/files/data"', "README.txt", '<svg xmlns="http://www.w3.org/2000/svg"'):
        assert text in page, text


def test_compare_page(client):
    page = client.get("/compare/demo/mnist:1.0.0...demo/mnist:2.0.0").text
    for text in ("1 added", "1 removed", "1 modified", "4 unchanged", "README.txt", "rows",
                 "Line two, edited.", 'class="add"', 'class="del"'):
        assert text in page, text
    added = client.get("/compare/demo/mnist:1.0.0...demo/mnist:2.0.0?show=added").text
    assert "data/new.txt" in added
    unchanged = client.get("/compare/demo/mnist:1.0.0...demo/mnist:2.0.0?show=unchanged").text
    assert "data/labels.csv" in unchanged


def test_compare_form_redirects_to_the_stable_link(client):
    page = client.get("/a/demo/mnist").text
    assert 'name="a" value="1.0.0"' in page and 'name="b" value="2.0.0"' in page
    r = client.get("/compare?workspace=demo&name=mnist&a=baseline&b=latest", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/compare/demo/mnist:1.0.0...demo/mnist:2.0.0"
    assert client.get("/compare?workspace=demo&name=mnist&a=7.0.0&b=latest").status_code == 404
    evil = client.get("/compare?workspace=demo&name=mnist&a=1.0.0&b=2.0.0", headers={"Host": "evil.example"},
                      follow_redirects=False)
    assert evil.headers["location"].startswith("/compare/")  # a path, never built from the Host header


def test_runs_pages(client, root):
    page = client.get("/runs").text
    for run in ("prepare", "clean", "train", "sweep"):
        assert f">{run}</a>" in page
    assert f"+{ui_store.FAN_OUT - 5} more" in page and "demo/shard-04:1.0.0" in page  # the sweep, shortened
    assert "demo/shard-05:1.0.0" not in page
    store = Store.open(root)
    train = store.run_named("train")
    store.close()
    run_page = client.get(f"/runs/{train}").text
    produced = run_page.split('class="versions produced"')[1].split("</ul>")[0]
    consumed = run_page.split('class="versions consumed"')[1].split("</ul>")[0]
    assert "demo/model:1.0.0" in produced and "demo/mnist:1.0.0" in consumed


def test_the_ui_never_writes_the_store(root, client):
    def state():
        out = {}
        for dirpath, _dirs, names in os.walk(root / ".artstore"):
            for name in names:
                path = os.path.join(dirpath, name)
                # SQLite's WAL index (-shm) and an empty WAL are made by any reader of a WAL
                # database that finds them absent, and removed by the last one to close:
                # whether they exist depended on the tests run before (alone, this failed).
                if name == "lock" or name.endswith("-shm") or (name.endswith("-wal") and not os.path.getsize(path)):
                    continue
                with open(path, "rb") as f:
                    out[path] = hashlib.sha256(f.read()).hexdigest()
        return out

    before = state()
    for url in PAGES + ["/a/demo/big/1.0.0/raw/big.txt"]:
        client.get(url)
    assert state() == before


# -- lineage graph ----------------------------------------------------------------------------


def graph(fan_out):
    nodes = [{"id": "version:v", "kind": "version", "label": "ws/focus:1.0.0"},
             {"id": "run:p", "kind": "run", "label": "producer"},
             {"id": "run:c", "kind": "run", "label": "consumer <b>"}]
    edges = [{"from": "run:p", "to": "version:v", "kind": "produced"},
             {"from": "version:v", "to": "run:c", "kind": "consumed"}]
    for i in range(fan_out):
        nodes.append({"id": f"version:o{i}", "kind": "version", "label": f"ws/out-{i:02d}:1.0.0"})
        edges.append({"from": "run:c", "to": f"version:o{i}", "kind": "produced"})
    return {"root": "version:v", "nodes": nodes, "edges": edges}


def test_lineage_layout_puts_producers_left_and_consumers_right():
    laid = lineage_svg.layout(graph(2))
    col = {n["id"]: n["col"] for n in laid["nodes"]}
    assert col == {"version:v": 0, "run:p": -1, "run:c": 1, "version:o0": 2, "version:o1": 2}
    xs = {n["id"]: n["x"] for n in laid["nodes"]}
    assert xs["run:p"] < xs["version:v"] < xs["run:c"] < xs["version:o0"] == xs["version:o1"]


def test_lineage_draws_a_cycle_once():
    """A run that consumed a version and produced it too (edges both ways)."""
    g = {"root": "version:v", "nodes": [{"id": "version:v", "kind": "version", "label": "ws/a:1.0.0"},
                                        {"id": "run:r", "kind": "run", "label": "r"}],
         "edges": [{"from": "run:r", "to": "version:v", "kind": "produced"},
                   {"from": "version:v", "to": "run:r", "kind": "consumed"}]}
    svg, laid = lineage_svg.render(g, lambda node: "")
    assert sorted(n["id"] for n in laid["nodes"]) == ["run:r", "version:v"]
    assert svg.count("<ellipse") == 1 and svg.count('class="edge') == 2


def test_lineage_svg_draws_runs_and_versions_as_distinct_shapes():
    svg, _laid = lineage_svg.render(graph(2), lambda node: f"/expand/{node}")
    assert svg.count("<ellipse") == 2 and svg.count("<rect") == 3
    assert svg.count('class="node version focus"') == 1
    assert "consumer &lt;b&gt;" in svg and "<b>" not in svg
    assert 'href="/runs/p"' in svg and 'href="/a/ws/out-00/1.0.0"' in svg


def test_lineage_folds_a_large_fan_out_into_one_expandable_node():
    svg, laid = lineage_svg.render(graph(30), lambda node: f"/expand/{node}")
    more = [n for n in laid["nodes"] if n["kind"] == "more"]
    assert len(more) == 1 and more[0]["hidden"] == 30 - (lineage_svg.FOLD - 1)
    assert len(laid["nodes"]) == 3 + lineage_svg.FOLD
    assert "+23 more" in svg and 'href="/expand/run:c"' in svg
    _svg, full = lineage_svg.render(graph(30), lambda node: "", expanded=("run:c",))
    assert len(full["nodes"]) == 33 and not [n for n in full["nodes"] if n["kind"] == "more"]


def test_lineage_page_on_a_store_folds_the_sweep(client):
    folded = client.get("/a/demo/model/1.0.0/lineage").text
    assert f"+{ui_store.FAN_OUT - lineage_svg.FOLD + 1} more" in folded
    href = re.search(r'<a href="([^"]*expand=[^"]*)"><g class="node more"', folded).group(1)
    expanded = client.get(href.replace("&amp;", "&")).text
    assert "more</text>" not in expanded and expanded.count('class="node version') == ui_store.FAN_OUT + 2


# -- folder listing ----------------------------------------------------------------------------


def naive_listing(paths, folder):
    prefix = folder + "/" if folder else ""
    out = []
    for p in sorted(paths):
        if p.startswith(prefix):
            name, slash, _ = p[len(prefix):].partition("/")
            row = ("folder" if slash else "file", name)
            if row not in out:
                out.append(row)
    return out


@pytest.fixture(scope="module")
def tree_store(tmp_path_factory):
    """One version with folders of every shape: big and small, nested, names that sort
    around '/' ('a-b', 'a.b', 'a0', 'a/...')."""
    paths = [f"flat/f{i:04d}.txt" for i in range(700)]
    paths += [f"nested/d{i:02d}/f{j}.txt" for i in range(40) for j in range(12)]
    paths += ["a-b", "a.b", "a0", "a/x", "a/y/z", "a/y.txt", "top.txt", "zz/deep/er/still.txt"]
    root = tmp_path_factory.mktemp("tree") / "proj"
    store = Store.init(root, workspace="ws")
    store.log("t", [InMemory(p.encode(), p) for p in paths], version="1.0.0")
    tree = store.manifest(store.resolve("ws/t:1.0.0")[1]["id"]).tree
    yield store, tree, paths
    store.close()


@pytest.mark.parametrize("folder", ["", "flat", "nested", "nested/d07", "a", "a/y", "zz", "zz/deep/er"])
@pytest.mark.parametrize("limit", [1, 7, 200, 5000])
def test_folder_listing_pages_through_one_level(tree_store, folder, limit):
    _store, tree, paths = tree_store
    seen, after = [], None
    while True:
        rows, more = folders.listing(tree, folder, after, limit)
        assert len(rows) <= limit
        seen += [(r["kind"], r["name"]) for r in rows]
        if not more:
            break
        after = rows[-1]["name"]
    assert seen == naive_listing(paths, folder)


def test_folder_checks(tree_store):
    _store, tree, _paths = tree_store
    assert folders.is_folder(tree, "nested/d07") and folders.is_folder(tree, "a")
    assert not folders.is_folder(tree, "a.b") and not folders.is_folder(tree, "nope")


def test_version_page_pages_a_big_folder(tree_store, tmp_path):
    store, _tree, _paths = tree_store
    with TestClient(create_app(store.dir)) as c:
        page = c.get("/a/ws/t/1.0.0/files/flat").text
        assert page.count('<tr class="file">') == 200 and "more files" in page
        nxt = re.search(r'href="([^"]*after=[^"]*)">more files', page).group(1).replace("&amp;", "&")
        assert "after=f0199.txt" in nxt
        assert ">f0200.txt<" in c.get(nxt).text


# -- the command ---------------------------------------------------------------------------------


def test_help_does_not_import_the_web_stack(project):
    code = ("import sys\nfrom artstore.cli import main\n"
            "try:\n    main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc


def test_missing_extra_is_one_line(project):
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('starlette', 'uvicorn', 'jinja2'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from artstore.cli import run\n"
            "sys.argv = ['artstore', 'ui', '--port', '0']\n"
            "run()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project, timeout=60)
    assert proc.returncode == 5, proc
    assert proc.stderr.strip().splitlines() == [
        "artstore: error: artstore ui needs the 'ui' extra: pip install 'artstore[ui]'"]


def start_ui(cwd, *args):
    proc = subprocess.Popen([sys.executable, "-m", "artstore", "ui", "--port", "0", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://[^ ]+/", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, match.group(0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_command_serves_and_stops_cleanly(project, sig):
    write_tree(project, {"data/a.txt": b"hello"})
    assert run_cli("add", "ds", "data", "--run", "prep", cwd=project).code == 0
    proc, url = start_ui(project)
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "a/ws/ds/1.0.0/files/a.txt", timeout=10) as r:
            assert r.status == 200 and b"hello" in r.read()
        # Requests from several threads at once: each gets its own catalog connection.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda u: urllib.request.urlopen(u, timeout=30).status,
                                     [url, url + "a/ws/ds", url + "a/ws/ds/1.0.0", url + "runs"] * 10))
        assert statuses == [200] * 40
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, (out, err)
    assert "stopped" in out and "Traceback" not in err


def test_open_starts_the_browser_on_the_printed_url(project, tmp_path):
    opened = tmp_path / "opened"
    browser = f"{sys.executable} -c \"import sys; open('{opened}', 'w').write(sys.argv[1])\" %s"
    proc = subprocess.Popen([sys.executable, "-m", "artstore", "ui", "--port", "0", "--open"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, BROWSER=browser))
    try:
        url = re.search(r"http://[^ ]+/", proc.stdout.readline()).group(0)
        for _ in range(100):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.1)
        assert opened.read_text() == url
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_command_warns_when_listening_on_every_interface(project):
    proc, url = start_ui(project, "--host", "0.0.0.0")
    proc.terminate()
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, (out, err)  # stopped at once after its URL: still a clean exit
    assert "warning: listening on 0.0.0.0" in err and url.startswith("http://127.0.0.1:")


def test_command_says_when_the_port_is_taken(project):
    proc, url = start_ui(project)
    try:
        port = url.rsplit(":", 1)[1].strip("/")
        r = run_cli("ui", "--port", port, cwd=project, timeout=30)
        assert r.code == 5 and "choose another --port" in r.err and len(r.err.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_pages_work_on_a_store_the_command_line_made(project):
    """The shape of `make demo` (scripts/demo.sh): versions logged with --run, changed, downloaded."""
    write_tree(project, {"data/images/batch-0.bin": os.urandom(70_000), "data/labels.csv": b"1,2\n" * 500})
    assert run_cli("add", "mnist", "data", "--version", "1.0.0", "--alias", "baseline", "--meta", "source=demo",
                   "--run", "prepare", cwd=project).code == 0
    write_tree(project, {"data/labels.csv": b"1,3\n" * 500})
    assert run_cli("add", "mnist", "data", "--version", "2.0.0", "--run", "clean", cwd=project).code == 0
    assert run_cli("download", "mnist:1.0.0", "restored", "--run", "train", cwd=project).code == 0
    with TestClient(create_app(str(project / ".artstore"))) as c:
        for url in ("/", "/a/ws/mnist", "/a/ws/mnist/1.0.0", "/a/ws/mnist/2.0.0/files/images",
                    "/a/ws/mnist/1.0.0/files/labels.csv", "/a/ws/mnist/1.0.0/files/images/batch-0.bin",
                    "/compare/ws/mnist:1.0.0...ws/mnist:2.0.0", "/runs", "/a/ws/mnist/1.0.0/lineage"):
            r = c.get(url)
            assert r.status_code == 200, (url, r.text[-1000:])
        assert "train" in c.get("/a/ws/mnist/1.0.0").text


def test_versions_page_orders_like_versions_and_reads_only_its_rows(tmp_path):
    store = Store.init(tmp_path / "p", workspace="ws")
    try:
        for v in ["1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "2.0.0-alpha", "1.2.3", "10.0.0", "2.0.0"]:
            store.log("a", [InMemory(v.encode(), "f")], version=v, metadata={"v": v},
                      aliases=["prod"] if v == "1.9.0" else (), version_tags=["t"] if v == "1.2.3" else ())
        everything = store.versions("a", "ws")[::-1]
        total, page = store.versions_page("a", "ws", 0, 100)
        assert total == 8 and [r["version"] for r in page] == [r["version"] for r in everything]
        assert [r["version"] for r in page][:3] == ["10.0.0", "2.0.0", "2.0.0-alpha"]
        for mine, theirs in zip(page, everything, strict=True):
            assert {k: mine[k] for k in theirs} == theirs and mine["metadata"] == {"v": mine["version"]}
        assert [r["version"] for r in store.versions_page("a", "ws", 2, 3)[1]] == ["2.0.0-alpha", "1.10.0", "1.9.0"]
        assert store.versions_page("a", "ws", 50, 10) == (8, [])
        assert store.resolve("a", "ws")[1]["version"] == "10.0.0" == store.resolve("ws/a:latest")[1]["version"]
        assert store.list_artifacts()[0]["latest"] == "10.0.0"
    finally:
        store.close()


def test_a_damaged_store_is_an_error_page_not_a_traceback(tmp_path):
    import sqlite3

    store = Store.init(tmp_path / "p", workspace="ws")
    store.log("ds", [InMemory(b"a", "a.txt"), InMemory(b"b", "dir/b.txt")], version="1.0.0")
    store.close()
    conn = sqlite3.connect(tmp_path / "p" / ".artstore" / "catalog.db")
    conn.execute("DROP TRIGGER nodes_immutable")  # as a hand-edited or damaged catalog might be
    conn.execute("UPDATE nodes SET data = x'28b52ffd0000'")
    conn.commit()
    conn.close()
    with TestClient(create_app(str(tmp_path / "p" / ".artstore"))) as c:
        assert c.get("/a/ws/ds").status_code == 200  # the versions list needs no manifest
        for url in ("/a/ws/ds/1.0.0", "/a/ws/ds/1.0.0/files/a.txt", "/a/ws/ds/1.0.0/raw/a.txt"):
            r = c.get(url)
            assert r.status_code == 500, url
            assert "The store is damaged" in r.text and "artstore verify" in r.text and "Traceback" not in r.text
            check_headers(r)


# -- adversarial pass (issue 16's security list, tried against a running app) ------------------


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("uihostile") / "proj"
    root.mkdir()
    store = Store.init(root, workspace="demo")
    try:
        store.log("odd", [InMemory(b"[" * 30_000 + b"]" * 30_000, "deep.json"),
                          InMemory(b"x", 'we"ird;na%0d m\u00e9.txt'),
                          InMemory(b"hello\n", "data/a.txt")], version="1.0.0")
    finally:
        store.close()
    return root


def test_a_deeply_nested_json_file_previews_as_text_not_a_500(hostile_root):
    """json.loads raises RecursionError (not ValueError) on "[[[[...": it was a 500."""
    with TestClient(create_app(str(hostile_root / ".artstore")), raise_server_exceptions=False) as c:
        for url in ("/a/demo/odd/1.0.0/files/deep.json", "/a/demo/odd/1.0.0/files/deep.json?format=json"):
            r = c.get(url)
            assert r.status_code == 200, (url, r.text[-500:])
    assert preview.preview("a.json", b"[" * 30_000 + b"]" * 30_000, False)["kind"] == "json"


def lock_is_free(root):
    import fcntl

    fd = os.open(root / ".artstore" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_raw_download_lets_go_of_the_store_lock_however_it_ends(project):
    """A client that hangs up before the body is sent (`curl -I` does) left read_asset's
    generator suspended inside the shared store lock, so `artstore gc` (which needs the
    lock to itself) waited its timeout and failed while the server ran. A real server: the
    framework's test client never hangs up early."""
    import socket

    write_tree(project, {"data/a.txt": b"hello\n" * 1000})
    assert run_cli("add", "ds", "data", cwd=project).code == 0
    proc, url = start_ui(project)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        for method, read in (("HEAD", False), ("HEAD", True), ("GET", False), ("GET", True)):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"{method} /a/ws/ds/1.0.0/raw/a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if read:
                    assert s.recv(65536).startswith(b"HTTP/1.1 200")
            for _ in range(50):
                if lock_is_free(project):
                    break
                time.sleep(0.05)
            assert lock_is_free(project), (method, read)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_hostile_download_names_stay_inside_their_header(hostile_root):
    with TestClient(create_app(str(hostile_root / ".artstore"))) as c:
        listing = c.get("/a/demo/odd/1.0.0?format=json").json()
        assert 'we"ird;na%0d m\u00e9.txt' in [r["name"] for r in listing["listing"]["rows"]]
    from artstore.ui.views.versions import _attachment

    header = _attachment('we"ird;na%0d m\u00e9.txt')
    assert header == ("attachment; filename=\"we_ird_na_0d m_.txt\"; "
                      "filename*=UTF-8''we%22ird%3Bna%250d%20m%C3%A9.txt")


def test_redirects_never_carry_the_host_header(hostile_root):
    """Starlette's trailing-slash redirect built an absolute URL from Host (any Host with
    --host 0.0.0.0); every redirect is now a path on this server."""
    with TestClient(create_app(str(hostile_root / ".artstore"))) as c:
        r = c.get("/a/demo/odd/1.0.0/files", headers={"Host": "evil.example"}, follow_redirects=False)
        assert r.status_code in (301, 303, 307) and r.headers["location"] == "/a/demo/odd/1.0.0/files/"
        r = c.get("/a/demo/odd/", headers={"Host": "evil.example"}, follow_redirects=False)
        assert r.headers["location"] == "/a/demo/odd"
        r = c.get("/compare?workspace=demo&name=odd&a=1.0.0&b=1.0.0", headers={"Host": "evil.example"},
                  follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/compare/demo/odd:1.0.0...")
    from artstore.ui.app import local_location

    assert local_location(b"http://evil.example//evil.example/x?a=1") == b"/evil.example/x?a=1"


@pytest.mark.parametrize("host", ["127.0.0.1:1@evil.example", "localhost:", "127.0.0.1:80x", "[::1]x"])
def test_a_loopback_server_refuses_malformed_host_headers(hostile_root, host):
    with TestClient(create_app(str(hostile_root / ".artstore"), allowed_hosts=LOOPBACK_HOSTS)) as c:
        assert c.get("/", headers={"Host": host}).status_code == 400
        assert c.get("/", headers={"Host": "[::1]:8017"}).status_code == 200


def test_a_page_waits_briefly_for_gc_then_says_busy(hostile_root, monkeypatch):
    """While gc held the store lock, a file page waited the CLI's 60 s (and held one of the
    server's worker threads); it now answers 503 after a short wait."""
    import fcntl

    from artstore.ui import app as ui_app

    monkeypatch.delenv("ARTSTORE_LOCK_TIMEOUT", raising=False)
    monkeypatch.setattr(ui_app, "LOCK_WAIT", 0.3)
    fd = os.open(hostile_root / ".artstore" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as gc does
        with TestClient(create_app(str(hostile_root / ".artstore"))) as c:
            for url in ("/a/demo/odd/1.0.0/files/data/a.txt", "/a/demo/odd/1.0.0/raw/data/a.txt"):
                started = time.monotonic()
                r = c.get(url)
                assert r.status_code == 503 and "Busy" in r.text and "gc is running" in r.text, url
                assert time.monotonic() - started < 5
            assert c.get("/a/demo/odd/1.0.0").status_code == 200  # pages without file bytes need no lock
    finally:
        os.close(fd)


@pytest.mark.parametrize("host", ["nosuch.invalid", "192.0.2.1"])  # 192.0.2.1: TEST-NET-1, never assigned
def test_a_host_that_is_not_this_machine_is_one_line_about_the_host(project, host):
    """It said 'choose another --port', which does not help."""
    r = run_cli("ui", "--host", host, "--port", "0", cwd=project, timeout=30)
    assert r.code == 5 and "--host" in r.err and "choose another --port" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_open_without_a_browser_says_so(project):
    """--open on a machine with no browser did nothing and said nothing."""
    proc = subprocess.Popen([sys.executable, "-m", "artstore", "ui", "--port", "0", "--open"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, BROWSER=os.path.join(str(project), "no-such-browser")))
    try:
        url = re.search(r"http://[^ ]+/", proc.stdout.readline()).group(0)
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert line.strip() == f"artstore ui: could not start a web browser (--open); open {url} yourself"
    assert proc.returncode == 0 and "Traceback" not in err


def test_a_server_on_every_interface_still_refuses_rebinding_host_names(project):
    """--host 0.0.0.0 answered any Host, so a DNS-rebinding page in the user's browser
    could read the store; it now answers addresses and this machine's own names."""
    import http.client
    import socket

    proc, url = start_ui(project, "--host", "0.0.0.0")
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))

        def status(host):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/", headers={"Host": host})
            try:
                return c.getresponse().status
            finally:
                c.close()

        assert status(f"evil.example:{port}") == 400
        assert status(f"{socket.gethostname()}.evil.example") == 400
        for host in (f"127.0.0.1:{port}", f"192.0.2.7:{port}", f"[::1]:{port}", f"{socket.gethostname()}:{port}"):
            assert status(host) == 200, host
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    from artstore.ui.app import is_ip

    assert is_ip("10.0.0.1") and is_ip("[fe80::1]") and not is_ip("10.0.0.1.evil.example")


@pytest.mark.parametrize("query, message", [
    ("&".join(f"where=k{i}%3D{i}" for i in range(1000)), "more than 50 metadata conditions"),
    ("search=" + "a%20OR%20" * 1000 + "b", "search text longer than 1,000 characters"),
])
def test_a_query_too_big_for_sqlite_is_a_message_not_a_500(hostile_root, query, message):
    """1,000 conditions or ORed terms hit SQLite's expression-depth limit: a 500."""
    with TestClient(create_app(str(hostile_root / ".artstore")), raise_server_exceptions=False) as c:
        r = c.get("/?" + query)
        assert r.status_code == 200 and message in r.text
        assert c.get("/?search=" + "a%20OR%20" * 150 + "b").status_code == 200  # just under the cap
        assert c.get("/?" + "&".join(f"where=k{i}%3D{i}" for i in range(50))).status_code == 200


def test_a_stalled_download_does_not_keep_the_server_from_stopping(project):
    """uvicorn waits for open requests forever by default: a client that stopped reading
    a large download kept `artstore ui` running after Ctrl-C or SIGTERM."""
    import socket

    store = Store.open(project)
    store.log("big", [InMemory(b"0123456789" * 3_200_000, "big.bin")], version="1.0.0")
    store.close()
    proc, url = start_ui(project)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /a/ws/big/1.0.0/raw/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 200")  # and then reads nothing more
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("the server did not stop while a download was stalled") from None
    assert proc.returncode == 0 and "stopped" in out and "Traceback" not in err, (out, err)
