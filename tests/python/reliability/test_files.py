"""The model file on a real file system: save and load fail as open() and write() do (the OSError subclass of the
errno, with .errno, .strerror and .filename), never leave a temporary file behind, and replace a file as writing it
in place would (a symbolic link followed and kept, the permission bits kept, a new file 0666 less the umask), while
staying atomic; Ctrl-C stops a save within 0.2 s, the file as it was. The ONNX export writes its file the same way."""

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastann
from fastann.layers import Dense
from fastann.models import Sequential, load_model

ROOT = os.geteuid() == 0


def _model(seed=0):
    m = Sequential([Dense(8, input_dim=4, activation="relu",
                          kernel_initializer=fastann.initializers.GlorotUniform(seed=seed)), Dense(2)])
    m.compile(loss="mse", optimizer="adam")
    m.fit(np.ones((4, 4), np.float32), np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    return m


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".fastann-"))


def test_a_missing_file_is_file_not_found_with_errno_and_filename(tmp_path):
    path = str(tmp_path / "none.fastann")
    with pytest.raises(FileNotFoundError) as e:
        load_model(path)
    assert e.value.errno == errno.ENOENT and e.value.filename == path
    assert "cannot open model file" in e.value.strerror
    with pytest.raises(FileNotFoundError) as e:
        _model().save(str(tmp_path / "no" / "such" / "dir.fastann"))
    assert e.value.errno == errno.ENOENT and e.value.filename.endswith("dir.fastann")
    with pytest.raises(FileNotFoundError):
        load_model("")


def test_a_directory_is_is_a_directory_error_on_save_and_load(tmp_path):
    with pytest.raises(IsADirectoryError) as e:
        _model().save(str(tmp_path))
    assert e.value.errno == errno.EISDIR and e.value.filename == str(tmp_path)
    with pytest.raises(IsADirectoryError):
        load_model(tmp_path)
    with pytest.raises(IsADirectoryError):  # a trailing slash names a folder, as for open()
        _model().save(str(tmp_path / "new.fastann") + "/")
    assert _leftovers(tmp_path) == []


def test_a_file_as_a_folder_is_not_a_directory_error(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        _model().save(str(plain / "m.fastann"))
    with pytest.raises(NotADirectoryError):
        load_model(str(plain / "m.fastann"))


def test_an_embedded_null_byte_is_a_value_error_as_open_raises():
    with pytest.raises(ValueError, match="null byte"):
        _model().save("bad\0name.fastann")
    with pytest.raises(ValueError, match="null byte"):
        load_model("bad\0name.fastann")


def test_path_types_str_bytes_pathlike_and_undecodable_names(tmp_path):
    m = _model()
    for path in (str(tmp_path / "a.fastann"), os.fsencode(tmp_path / "b.fastann"), tmp_path / "c.fastann",
                 os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff\xfe.fastann")):
        m.save(path)
        assert _same(load_model(path), m)
    assert os.path.exists(os.fsencode(str(tmp_path)) + b"/\xff\xfe.fastann")
    with pytest.raises(TypeError):
        m.save(3)
    with pytest.raises(TypeError):
        load_model(None)


def test_a_symbolic_link_is_followed_and_kept(tmp_path):
    m = _model()
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.fastann"
    link = tmp_path / "link.fastann"
    chain = tmp_path / "chain.fastann"
    os.symlink("real/model.fastann", link)  # relative, resolved against the link's folder
    os.symlink(str(link), chain)
    m.save(str(chain))  # dangling: creates the file the links end at
    assert os.path.islink(link) and os.path.islink(chain) and target.is_file()
    m2 = _model(seed=1)
    m2.save(str(chain))  # replaces the target; both links stay links
    assert os.path.islink(link) and os.path.islink(chain)
    assert _same(load_model(target), m2)
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "real") == []


def test_a_loop_of_links_is_eloop(tmp_path):
    os.symlink(str(tmp_path / "b"), tmp_path / "a")
    os.symlink(str(tmp_path / "a"), tmp_path / "b")
    with pytest.raises(OSError) as e:
        _model().save(str(tmp_path / "a"))
    assert e.value.errno == errno.ELOOP
    with pytest.raises(OSError) as e:
        load_model(str(tmp_path / "a"))
    assert e.value.errno == errno.ELOOP


def test_replacing_a_file_keeps_its_permission_bits(tmp_path):
    path = tmp_path / "m.fastann"
    m = _model()
    m.save(str(path))
    os.chmod(path, 0o640)
    m.save(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    os.chmod(path, 0o604)
    m.save(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        _model().save(str(tmp_path / "m.fastann"))
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.fastann").st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / "m.fastann").st_mode) == stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)


def test_a_255_byte_name_works_and_a_256_byte_name_is_enametoolong(tmp_path):
    m = _model()
    longest = tmp_path / ("m" * (255 - len(".fastann")) + ".fastann")
    m.save(str(longest))
    assert _same(load_model(str(longest)), m)
    with pytest.raises(OSError) as e:
        m.save(str(tmp_path / ("m" * 256)))
    assert e.value.errno == errno.ENAMETOOLONG
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(ROOT, reason="root writes into read-only folders")
def test_a_read_only_folder_is_permission_error_and_the_file_is_unchanged(tmp_path):
    path = tmp_path / "m.fastann"
    _model().save(str(path))
    before = path.read_bytes()
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(PermissionError) as e:
            _model(seed=1).save(str(path))
        assert e.value.errno == errno.EACCES
    finally:
        os.chmod(tmp_path, 0o755)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []


_FILE_SIZE_LIMIT = textwrap.dedent("""
    import errno, os, resource, signal, sys
    import numpy as np
    from fastann.layers import Dense
    from fastann.models import Sequential, load_model
    folder = sys.argv[1]
    path = os.path.join(folder, "m.fastann")
    small = Sequential([Dense(2, input_dim=2)])
    small.compile(loss="mse", optimizer="sgd")
    small.save(path)
    before = open(path, "rb").read()
    big = Sequential([Dense(512, input_dim=512), Dense(512)])  # ~2 MiB of weights
    big.compile(loss="mse", optimizer="sgd")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as Python does at start-up
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
    try:
        big.save(path)
        print("saved")
    except OSError as e:
        print(type(e).__name__, e.errno, e.filename == path)
    leftovers = [n for n in os.listdir(folder) if n.startswith(".fastann-")]
    print(open(path, "rb").read() == before, leftovers == [])
""")


def test_a_file_past_the_size_limit_is_efbig_and_the_old_file_stays(tmp_path):
    out = subprocess.run([sys.executable, "-c", _FILE_SIZE_LIMIT, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OSError", str(errno.EFBIG), "True", "True", "True"], out.stdout


def test_a_full_disk_is_enospc_and_the_old_file_stays(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    # /dev/full is a device: written in place (as open() would), and every write fails with ENOSPC.
    with pytest.raises(OSError) as e:
        _model().save("/dev/full")
    assert e.value.errno == errno.ENOSPC and e.value.filename == "/dev/full"


def test_dev_null_takes_a_save_and_stays_a_device():
    _model().save(os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_fifo_without_a_reader_fails_at_once_instead_of_hanging(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as e:
        _model().save(str(fifo))
    assert e.value.errno == errno.ENXIO
    with pytest.raises(OSError, match="too small"):  # no writer: EOF at once
        load_model(str(fifo))


def test_overwrite_false_is_file_exists_error_and_keeps_the_file(tmp_path):
    path = tmp_path / "m.fastann"
    _model().save(str(path))
    before = path.read_bytes()
    with pytest.raises(FileExistsError) as e:
        _model(seed=1).save(str(path), overwrite=False)
    assert e.value.errno == errno.EEXIST and e.value.filename == str(path)
    assert path.read_bytes() == before


def test_onnx_export_follows_links_and_keeps_permissions(tmp_path):
    pytest.importorskip("onnx")
    m = _model()
    target = tmp_path / "model.onnx"
    link = tmp_path / "link.onnx"
    m.export(str(target))
    os.chmod(target, 0o600)
    os.symlink("model.onnx", link)
    m.export(str(link))
    assert os.path.islink(link) and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert _leftovers(tmp_path) == []
    with pytest.raises(IsADirectoryError):
        m.export(str(tmp_path))


def test_load_weights_and_save_weights_fail_the_same_way(tmp_path):
    m = _model()
    with pytest.raises(FileNotFoundError) as e:
        m.load_weights(str(tmp_path / "none.fastann"))
    assert e.value.filename == str(tmp_path / "none.fastann")
    with pytest.raises(IsADirectoryError):
        m.save_weights(str(tmp_path))



def _big_model(units=2048):
    m = Sequential([Dense(units, input_dim=units), Dense(units), Dense(units), Dense(units)])  # 64 MiB of weights
    m.compile(loss="mse", optimizer="sgd")
    return m


def test_ctrl_c_during_a_slow_save_raises_promptly_and_leaves_no_partial_state(tmp_path):
    # A FIFO drained slowly by a reader thread makes the write take seconds (a device is written in place, in the
    # same 1 MiB chunks as a temporary file); SIGINT 0.8 s in (past the ~0.3 s of serialising) must end it within
    # 0.2 s with KeyboardInterrupt.
    m = _big_model()
    fifo = str(tmp_path / "slow")
    os.mkfifo(fifo)
    received = []
    stop = threading.Event()

    def reader():
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open at once, so that the save's open finds a reader
        try:
            while not stop.is_set():
                try:
                    chunk = os.read(fd, 64 << 10)
                except BlockingIOError:
                    chunk = None
                if chunk == b"" and received:  # the writer closed its end
                    return
                if chunk:
                    received.append(len(chunk))
                time.sleep(0.002)  # ~32 MB/s: the whole model would take ~2 s
        finally:
            os.close(fd)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sent = []
    timer = threading.Timer(0.8, lambda: (sent.append(time.monotonic()), os.kill(os.getpid(), signal.SIGINT)))
    time.sleep(0.05)  # the reader has opened its end
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.save(fifo)
        latency = time.monotonic() - sent[0]
    finally:
        timer.cancel()
        stop.set()
        t.join(5)
    assert latency < 0.2, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
    assert 0 < sum(received) < 64 << 20  # it was stopped mid-write
    m.predict(np.ones((1, 2048), np.float32), verbose=0)  # the model still works


_SAVE_LOOP = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    from fastann.layers import Dense
    from fastann.models import Sequential
    path = sys.argv[1]
    m = Sequential([Dense(2048, input_dim=2048), Dense(2048), Dense(2048), Dense(2048)])
    m.compile(loss="mse", optimizer="sgd")
    w = m.get_weights()
    signal.setitimer(signal.ITIMER_REAL, float(sys.argv[2]))  # SIGALRM -> KeyboardInterrupt, mid-save
    signal.signal(signal.SIGALRM, signal.default_int_handler)
    version = 0
    try:
        while True:
            version += 1
            w[-1][:] = version  # the last bias records which save this is
            m.set_weights(w)
            m.save(path)
    except KeyboardInterrupt:
        print(version)
""")


@pytest.mark.parametrize("delay", [0.05, 0.23, 0.61])
def test_ctrl_c_during_repeated_saves_leaves_a_whole_file_and_no_temporary(tmp_path, delay):
    path = str(tmp_path / "m.fastann")
    out = subprocess.run([sys.executable, "-c", _SAVE_LOOP, path, str(delay)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    version = int(out.stdout.split()[-1])  # the save (or set_weights) that the interrupt ended
    assert _leftovers(tmp_path) == []
    if not os.path.exists(path):
        assert version == 1  # the first save was interrupted: no file, not a partial one
    else:
        bias = load_model(path).get_weights()[-1]
        assert np.all(bias == bias[0]) and bias[0] in (version - 1, version)
