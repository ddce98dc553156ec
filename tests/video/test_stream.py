"""Live sources: the newest frame first, a recording of what was shown, and a clear end on disconnect."""

from __future__ import annotations

import csv
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from polypdet.cli.main import main
from polypdet.video.errors import StreamDisconnected
from polypdet.video.frames import Frame
from polypdet.video.latest import LatestFrameReader
from polypdet.video.source import VideoFile


def synthetic(count: int, step_ms: float = 10.0) -> Iterator[Frame]:
    image = np.zeros((8, 8, 3), np.uint8)
    for i in range(count):
        yield Frame(i, i * step_ms, image, time.perf_counter())


def test_slow_consumer_gets_newest_frames_and_never_falls_behind() -> None:
    reader = LatestFrameReader(synthetic(300))
    taken = []
    while (frame := reader.get(timeout=5)) is not None:
        taken.append(frame.index)
        time.sleep(0.003)
    assert taken == sorted(set(taken)) and taken[-1] == 299
    assert reader.dropped > 0 and reader.dropped + len(taken) == reader.received == 300


def test_realtime_plays_at_the_source_rate_and_lossless_keeps_all() -> None:
    start = time.perf_counter()
    reader = LatestFrameReader(synthetic(30, step_ms=10), realtime=True)
    while reader.get(timeout=5) is not None:
        pass
    assert time.perf_counter() - start >= 0.28
    reader = LatestFrameReader(synthetic(50), lossless=True)
    taken = []
    while (frame := reader.get(timeout=5)) is not None:
        taken.append(frame.index)
        time.sleep(0.001)
    assert taken == list(range(50)) and reader.dropped == 0


def test_stream_a_file_in_real_time(clip: Path, tmp_path: Path) -> None:
    outputs = ["--out", str(tmp_path / "rec.mp4"), "--latency-csv", str(tmp_path / "latency.csv")]
    code = main(["stream", str(clip), "--realtime", "--max-frames", "30", *outputs])
    assert code == 0
    latencies = list(csv.DictReader((tmp_path / "latency.csv").open()))
    assert len(latencies) == 30 and all(0 < float(r["latency_ms"]) < 5000 for r in latencies)
    frames = [int(r["frame"]) for r in latencies]
    assert frames == sorted(set(frames))
    with VideoFile(tmp_path / "rec.mp4") as recording:
        assert sum(1 for _ in recording) == 30


class _CutOffStream(http.server.BaseHTTPRequestHandler):
    """Serves the first part of an MPEG-TS stream, then drops the connection, like a camera losing power."""

    payload = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        self.wfile.write(self.payload)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cut_off_stream(clip: Path, tmp_path: Path) -> Iterator[str]:
    ts = tmp_path / "live.ts"
    with av.open(str(clip)) as source, av.open(str(ts), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    _CutOffStream.payload = ts.read_bytes()[: ts.stat().st_size // 3]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutOffStream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    server.shutdown()


def test_disconnecting_stream_ends_with_a_clear_message(
    cut_off_stream: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with VideoFile(cut_off_stream) as video, pytest.raises(StreamDisconnected):
        assert sum(1 for _ in video) > 0
    code = main(["stream", cut_off_stream, "--no-track", "--out", str(tmp_path / "rec.mp4")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().splitlines()[-1].startswith(f"polypdet stream: {cut_off_stream}: stream ")
    assert "ended: disconnected" in captured.out
    with VideoFile(tmp_path / "rec.mp4") as recording:  # what was shown before the cut is kept
        assert sum(1 for _ in recording) > 0


def test_show_without_display_is_refused(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["stream", str(clip), "--show"]) == 2
