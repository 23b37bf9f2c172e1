"""Video and webcam: a clip made in code (a page of handwritten numbers that moves, turns and
changes light) read with the real model, through the library loop, the live window and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.video import clear_digits, demo_page, moving_clip, write_clip
from digitscan.cli import cli
from digitscan.errors import ImageReadError, OutputError
from digitscan.video import (
    Frame,
    FrameScanner,
    LiveCapture,
    StopRequest,
    VideoReader,
    VideoWriter,
    Window,
    process_video,
    run_live,
)

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ["4702", "3158", "96"]  # all ten digits
MISREAD = ["4102", "3158", "96"]  # the same page with the 7 written as a 1
FRAMES = 36
PLANTED = 17  # the frame that shows the misread page


@pytest.fixture(scope="module")
def examples(scanner):
    return clear_digits(scanner)


@pytest.fixture(scope="module")
def frames(examples):
    """The clip's frames; frame PLANTED shows a page with a 1 where the 7 is."""
    clip = list(moving_clip(demo_page(tuple(NUMBERS), examples), FRAMES))
    planted = list(moving_clip(demo_page(tuple(MISREAD), examples), FRAMES))
    clip[PLANTED] = planted[PLANTED]
    return clip


@pytest.fixture(scope="module")
def clip(frames, tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "page.mp4"
    assert write_clip(path, iter(frames)) == FRAMES
    return path


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    n, size = 0, (0, 0)
    while True:
        ok, image = cap.read()
        if not ok:
            break
        n += 1
        size = image.shape[1], image.shape[0]
    cap.release()
    return n, size


def read_lines(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# ---------------------------------------------------------------- the library loop


def test_every_frame_is_read_right_and_the_planted_misreading_is_smoothed_away(clip, scanner, tmp_path):
    out, log = tmp_path / "annotated.mp4", tmp_path / "readings.jsonl"
    with VideoReader(clip) as reader:
        assert reader.frame_count == FRAMES and reader.fps == pytest.approx(25.0)
        summary = process_video(reader, scanner, output=out, log=log)
    assert (summary.frames, summary.output_frames, summary.log_lines) == (FRAMES, FRAMES, FRAMES)
    assert reader.problem is None

    lines = read_lines(log)
    assert [line["frame"] for line in lines] == list(range(FRAMES))
    assert [line["time"] for line in lines] == pytest.approx([i / 25 for i in range(FRAMES)], abs=1e-3)
    raw = [[n["text"] for n in line["numbers"]] for line in lines]
    smoothed = [[n["text"] for n in line["smoothed"]["numbers"]] for line in lines]
    # Each frame's own reading is right, but for the planted page, which is read as written...
    assert "".join(str(d["label"]) for d in lines[PLANTED]["digits"]) == "".join(MISREAD)
    assert sum(r == NUMBERS for r in raw) >= FRAMES - 3, raw
    # ...and the steadied reading never shows it.
    assert smoothed == [NUMBERS] * FRAMES
    first = lines[0]
    assert {"source", "width", "height", "digits", "numbers", "smoothed"} <= set(first)
    assert (first["width"], first["height"]) == (640, 480)
    assert {"label", "confidence", "box", "track"} <= set(first["smoothed"]["digits"][0])

    n, size = count_frames(out)
    assert (n, size) == (FRAMES, (640, 480))
    assert not list(tmp_path.glob(".*part*")), "temporary file left behind"


def test_every_nth_frame(clip, scanner, tmp_path):
    out, log = tmp_path / "every.mp4", tmp_path / "every.jsonl"
    with VideoReader(clip, every=5) as reader:
        assert reader.expected_frames == 8
        summary = process_video(reader, scanner, output=out, log=log)
    assert summary.frames == 8
    assert [line["frame"] for line in read_lines(log)] == list(range(0, FRAMES, 5))
    assert count_frames(out)[0] == 8


def test_stopping_part_way_keeps_a_playable_video_and_whole_lines(clip, scanner, tmp_path):
    out, log = tmp_path / "part.mp4", tmp_path / "part.jsonl"
    stop = StopRequest()

    def after(reading):
        if reading.frame.index == 9:
            stop.set()

    with VideoReader(clip) as reader:
        summary = process_video(reader, scanner, output=out, log=log, on_frame=after, stop=stop)
    assert summary.interrupted and summary.frames == 10
    assert len(read_lines(log)) == 10
    assert count_frames(out)[0] == 10


def test_an_error_part_way_still_finalizes_the_video(frames, scanner, tmp_path):
    out = tmp_path / "broken.mp4"

    def source():
        for i in range(4):
            yield Frame(i, i / 25, frames[i])
        raise ImageReadError("camera gone")

    with pytest.raises(ImageReadError):
        process_video(source(), scanner, output=out)
    assert count_frames(out)[0] == 4


def test_writer_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(OutputError, match="extension"):
        VideoWriter(tmp_path / "noext")
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "a.mp4")
    writer = VideoWriter(tmp_path / "a.mp4")
    writer.close()  # no frame written: no file
    assert not (tmp_path / "a.mp4").exists() and list(tmp_path.iterdir()) == []


def test_live_capture_plays_a_file_in_its_own_thread(clip):
    with LiveCapture(clip) as camera:
        first = camera.read()
        assert first is not None and first.image.shape == (480, 640, 3)
        seen = [first.index]
        while (frame := camera.read(newer_than=seen[-1], timeout=2.0)) is not None:
            seen.append(frame.index)
        assert camera.ended and camera.problem is None
        thread = camera._thread
    assert seen == sorted(set(seen)) and seen[-1] == FRAMES - 1
    assert thread is not None and not thread.is_alive()


def test_live_capture_keeps_only_the_newest_frame(clip):
    with LiveCapture(clip) as camera:
        time.sleep(0.5)  # a slow scan: about a dozen frames go by meanwhile
        frame = camera.read()
    assert frame is not None and frame.index >= 6


def test_missing_camera_and_unreadable_sources_raise_one_clear_error(tmp_path):
    with pytest.raises(ImageReadError, match=r"^camera 99: cannot open"):
        LiveCapture(99).start()
    with pytest.raises(ImageReadError, match="no such file"):
        VideoReader(tmp_path / "nope.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 20)
    with pytest.raises(ImageReadError, match="cannot open as a video"):
        VideoReader(text)


# ---------------------------------------------------------------- the live window


class ScriptedFrames:
    """A frame source that gives the clip's frames one by one, as a camera would."""

    def __init__(self, frames):
        self.frames = frames
        self.next = 0
        self.ended = False
        self.problem = None

    def read(self, newer_than=-1, timeout=1.0):
        if self.next >= len(self.frames):
            self.ended = True
            return None
        frame = Frame(self.next, self.next / 25, self.frames[self.next])
        self.next += 1
        return frame


class RecordingWindow(Window):
    """The real window (offscreen Qt), remembering what it showed."""

    def __init__(self, keys):
        script = iter(keys)
        super().__init__("digitscan test", key_reader=lambda delay: next(script, -1))
        self.shown: list[np.ndarray] = []

    def show(self, image):
        super().show(image)
        self.shown.append(image)


PROBE = "import cv2, numpy; cv2.imshow('probe', numpy.zeros((8, 8, 3), numpy.uint8)); cv2.waitKey(1)"


def _no_display(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the window tests need it in CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def display():
    """Somewhere for the real window to open: Qt's offscreen platform where this OpenCV build
    ships it, else a private virtual X server (opencv-python's Qt has only the xcb platform)."""
    platforms = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    xvfb = None
    if list(platforms.glob("*offscreen*")):
        env = {"QT_QPA_PLATFORM": "offscreen"}
    elif shutil.which("Xvfb"):
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "1600x1200x24"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        number = xvfb.stdout.readline().decode().strip()
        env = {"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
    else:
        _no_display("no Qt offscreen platform in this OpenCV build and no Xvfb (apt-get install xvfb)")
    # Qt aborts the whole process when it cannot start: try it in a child first.
    probe = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, timeout=60)
    if probe.returncode != 0:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
        _no_display(f"cannot open a window: {probe.stderr.decode().strip().splitlines()[-1:]}")
    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        patch.setenv(name, value)
    yield env
    cv2.destroyAllWindows()
    patch.undo()
    if xvfb is not None:
        # No window call may follow this: Qt ends the process when its X server goes away.
        xvfb.terminate()
        xvfb.wait()


def test_window_loop_shows_frames_toggles_mask_pauses_saves_and_quits(display, frames, scanner, tmp_path):
    keys = [-1, -1, ord("m"), -1, ord("s"), ord(" "), -1, -1, ord(" "), -1, ord("q"), -1, -1]
    window = RecordingWindow(keys)
    source = ScriptedFrames(frames[:20])
    summary = run_live(source, FrameScanner(scanner, source="test"), window=window, snapshot_dir=tmp_path)
    assert summary.quit_by_key and not summary.interrupted
    # 11 keys were read, one each time round the loop; three of those rounds were paused.
    assert summary.frames == 8 and source.next == 8
    assert len(window.shown) == 11
    plain, with_mask = window.shown[0], window.shown[3]
    assert plain.shape == (480, 640, 3) and with_mask.shape == (480, 1280, 3)
    assert np.array_equal(window.shown[6], window.shown[7])  # paused: the same image
    png = summary.snapshots[0]
    assert png.exists() and cv2.imread(str(png)).shape == (480, 1280, 3)
    saved = json.loads(png.with_suffix(".json").read_text())
    assert [n["text"] for n in saved["smoothed"]["numbers"]] == NUMBERS


def test_window_loop_ends_on_escape_and_when_the_source_ends(display, frames, scanner):
    summary = run_live(ScriptedFrames(frames[:5]), FrameScanner(scanner),
                       window=RecordingWindow([-1, 27]))
    assert summary.quit_by_key and summary.frames == 2
    summary = run_live(ScriptedFrames(frames[:3]), FrameScanner(scanner), window=RecordingWindow([]))
    assert not summary.quit_by_key and summary.frames == 3


# ---------------------------------------------------------------- the commands


def test_video_command_writes_video_and_lines(clip, tmp_path):
    out, log = tmp_path / "a.mp4", tmp_path / "a.jsonl"
    result = run("video", clip, "-o", out, "--jsonl", log)
    assert result.exit_code == 0, result.output
    assert count_frames(out)[0] == FRAMES and len(read_lines(log)) == FRAMES
    assert f"read {FRAMES} frames" in result.stderr


def test_video_command_prints_readings_as_they_change(clip):
    result = run("video", clip, "--every", "4")
    assert result.exit_code == 0, result.output
    assert [line.split()[1:] for line in result.stdout.splitlines()] == [NUMBERS]


def test_video_command_jsonl_to_stdout(clip):
    result = run("video", clip, "--every", "12", "--jsonl", "-")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["frame"] for line in result.stdout.splitlines()] == [0, 12, 24]


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: (d / "empty.mp4").write_bytes(b"") and None or d / "empty.mp4", "empty file"),
    (lambda d: (d / "text.mp4").write_text("no video here\n" * 50) and d / "text.mp4", "cannot open as a video"),
])
def test_video_command_bad_input_is_one_line(tmp_path, make, message):
    source = make(tmp_path)
    result = run("video", source, "-o", tmp_path / "out.mp4")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"digitscan: error: {source}: {message}"), result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_video_command_keeps_what_a_truncated_file_held(frames, tmp_path):
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for image in frames[:20]:
        writer.write(image)
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    log = tmp_path / "cut.jsonl"
    result = run("video", cut, "--jsonl", log)
    kept = len(read_lines(log))
    assert result.exit_code == 0 and 3 <= kept < 20
    assert f"of the 20 frames it declares; kept the {kept} frames read" in result.stderr


@pytest.fixture()
def stream(frames, tmp_path):
    """A local HTTP server: /drops sends half of an MJPG AVI and closes the connection, /missing is a 404."""
    import http.server
    import threading

    full = tmp_path / "stream.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for image in frames[:20]:
        writer.write(image)
    writer.release()
    data = full.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/drops.avi":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/x-msvideo")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])  # and the connection drops

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_a_stream_that_drops_keeps_what_came(stream, tmp_path):
    log = tmp_path / "stream.jsonl"
    result = run("video", f"{stream}/drops.avi", "--jsonl", log)
    kept = len(read_lines(log))
    assert result.exit_code == 0 and 3 <= kept < 20, result.output
    assert f"kept the {kept} frames read" in result.stderr
    result = run("video", f"{stream}/missing.avi", "--jsonl", tmp_path / "none.jsonl")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"digitscan: error: {stream}/missing.avi: cannot open")


def test_video_command_refuses_to_overwrite_its_input(clip):
    before = clip.read_bytes()
    result = run("video", clip, "-o", clip)
    assert result.exit_code == 4 and "refusing to overwrite the input video" in result.stderr
    assert clip.read_bytes() == before


def test_ctrl_c_finalizes_the_video_and_leaves_whole_lines(clip, tmp_path):
    out, log = tmp_path / "int.mp4", tmp_path / "int.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "digitscan", "video", str(clip), "-o", str(out),
                             "--jsonl", str(log), "--quiet"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the clip was read whole before the signal arrived")
    assert proc.returncode == 130, err.decode()
    assert b"interrupted after" in err and b"Traceback" not in err
    lines = read_lines(log)
    assert 3 <= len(lines) < FRAMES
    assert count_frames(out)[0] == len(lines)


def test_webcam_headless_prints_readings(clip, tmp_path):
    result = run("webcam", "--camera", clip, "--no-window", "--frames", "6")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and lines[-1].split()[1:] == NUMBERS


def test_webcam_headless_json(clip):
    result = run("webcam", "--camera", clip, "--no-window", "--json", "--frames", "3")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.splitlines()[0])
    assert [n["text"] for n in doc["smoothed"]["numbers"]] == NUMBERS


def test_webcam_without_a_camera_is_one_line():
    result = run("webcam", "--camera", "99", "--no-window")
    assert result.exit_code == 2
    assert result.stderr.startswith("digitscan: error: camera 99: cannot open") and result.stderr.count("\n") == 1


def test_webcam_without_a_display_says_so(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    result = run("webcam", "--camera", "99")
    assert result.exit_code == 2 and "--no-window" in result.stderr


def test_the_commands_default_work_size_is_the_librarys():
    from digitscan.cli_video import video, webcam
    from digitscan.video import VIDEO_WORK_SIZE

    for command in (video, webcam):
        assert next(p.default for p in command.params if p.name == "work_size") == VIDEO_WORK_SIZE


def test_no_frame_leaves_no_files(scanner, tmp_path):
    out, log = tmp_path / "none.mp4", tmp_path / "none.jsonl"
    summary = process_video(iter([]), scanner, output=out, log=log)
    assert summary.frames == 0
    assert list(tmp_path.iterdir()) == []


def test_large_writing_is_scanned_smaller_with_a_full_look_every_tenth_frame(frames, scanner):
    reader = FrameScanner(scanner, full_look_every=10)
    work_size = scanner.work_size
    reduced, texts = [], []
    for i, image in enumerate(frames[:PLANTED]):
        reading = reader.scan(Frame(i, i / 25, image))
        reduced.append(reading.raw.page.reduce > 1)
        texts.append(reading.texts)
    # The digits are about 70 px tall: after the first frame, half size keeps them over 24 px.
    assert reduced == [i % 10 != 0 for i in range(PLANTED)]
    assert texts == [NUMBERS] * PLANTED
    assert scanner.work_size == work_size  # the caller's Scanner is left as it was


def test_without_adaptive_every_frame_is_scanned_at_the_scanners_size(frames, scanner):
    reader = FrameScanner(scanner, adaptive=False)
    sizes = {reader.scan(Frame(i, 0.0, image)).raw.page.reduce for i, image in enumerate(frames[:5])}
    assert sizes == {1}
