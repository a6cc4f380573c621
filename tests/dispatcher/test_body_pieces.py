"""A listing body sent in pieces: the reader's arithmetic, bytes for servers that need bytes,
memoryview slices under our Waitress, and a spliced listing in many segments over a socket."""

from __future__ import annotations

import http.client
import io

import pytest
from rfconsole.db import Store
from rfconsole.db import runs as run_rows
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.keepalive import SEND_BLOCK_BYTES
from rfconsole.dispatcher.responses import PiecesReader, body_length
from rfconsole.dispatcher.server import DispatcherServer
from werkzeug.wsgi import FileWrapper

from .conftest import Seeded

PIECES = (b"[", b"abcdef", b",", b"ghij", b"]")
WHOLE = b"".join(PIECES)


def test_body_length_counts_bytes_and_pieces():
    assert body_length(WHOLE) == body_length(PIECES) == len(WHOLE)


@pytest.mark.parametrize("views", [False, True])
@pytest.mark.parametrize("size", [1, 3, 5, 100])
def test_reads_in_any_size_give_the_whole_body(views, size):
    reader = PiecesReader(PIECES, views=views)
    read = []
    while chunk := reader.read(size):
        assert len(chunk) <= size
        read.append(bytes(chunk))
    assert b"".join(read) == WHOLE
    assert reader.tell() == len(WHOLE)


def test_without_views_every_read_is_bytes_and_whole_pieces_are_not_copied():
    reader = PiecesReader(PIECES, views=False)
    chunks = list(FileWrapper(reader, 1024))  # how gunicorn and the test client read it
    assert all(type(chunk) is bytes for chunk in chunks)
    assert chunks[1] is PIECES[1]
    assert b"".join(chunks) == WHOLE


def test_with_views_a_read_inside_a_piece_is_a_view_and_seeking_works_like_a_file():
    reader = PiecesReader(PIECES, views=True)
    assert reader.seek(0, io.SEEK_END) == len(WHOLE)
    assert reader.seek(3) == 3
    part = reader.read(2)
    assert isinstance(part, memoryview)
    assert bytes(part) == b"cd"
    assert reader.seek(-1, io.SEEK_CUR) == 4
    assert bytes(reader.read(100)) == b"def"  # up to the end of the piece
    assert reader.seek(99) == len(WHOLE)
    assert reader.read(10) == b""


def test_our_waitress_channel_offers_large_blocks(store: Store, seeded: Seeded):
    server = DispatcherServer(create_app(store), host="127.0.0.1", port=0)
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", "/dispatcher/health-check")
        conn.getresponse().read()
        channels = [channel for channel in server._server._map.values()  # noqa: SLF001 - the state under test
                    if hasattr(channel, "sendbuf_len")]
        assert channels
        assert all(channel.sendbuf_len >= SEND_BLOCK_BYTES for channel in channels)
    finally:
        conn.close()
        server.stop()


def test_a_spliced_listing_in_many_segments_is_sent_whole(store: Store, seeded: Seeded, monkeypatch):
    monkeypatch.setattr("rfconsole.dispatcher.responses.FILE_BODY_BYTES", 64)
    monkeypatch.setattr("rfconsole.dispatcher.splice.SEGMENT_RUNS", 2)
    app = create_app(store)
    server = DispatcherServer(app, host="127.0.0.1", port=0)
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    try:
        for step in range(3):  # the first listing, then spliced ones
            if step:
                with store.write() as session:
                    run_rows.write_run(session, seeded.ongoing, {"completed_steps": step})
            expected = create_app(store, prewarm=False).test_client().get("/dispatcher/get-all-runs").data
            conn.request("GET", "/dispatcher/get-all-runs")
            answer = conn.getresponse()
            assert answer.getheader("Content-Length") == str(len(expected))
            assert answer.read() == expected
        full = app.extensions["rfconsole"].listing._full  # noqa: SLF001 - the state under test
        runs = len(full.ids) if full is not None else 0
        segments = -(-runs // 2)
        assert full is not None
        assert segments > 1
        assert len(full.body()) == 2 * segments + 1  # "[", the segments with commas between, "]"
    finally:
        conn.close()
        server.stop()


def test_a_listing_built_by_segments_encodes_a_segments_runs_when_a_change_touches_it(
        store: Store, seeded: Seeded, monkeypatch):
    monkeypatch.setattr("rfconsole.dispatcher.splice.SEGMENT_RUNS", 2)
    client = create_app(store).test_client()  # prewarmed: built segment by segment
    listing = client.application.extensions["rfconsole"].listing
    kept = listing._full  # noqa: SLF001 - the state under test
    assert kept is not None
    assert all(part is None for part in kept.parts)
    changed = kept.ids[2]  # the first run of the second segment
    with store.write() as session:
        run_rows.write_run(session, changed, {"completed_steps": 5})
    answer = client.get("/dispatcher/get-all-runs")
    assert answer.data == create_app(store, prewarm=False).test_client().get("/dispatcher/get-all-runs").data
    assert listing._full is kept  # noqa: SLF001 - spliced, not rebuilt
    assert [part is not None for part in kept.parts[:4]] == [False, False, True, True]
    assert all(part is None for part in kept.parts[4:])
