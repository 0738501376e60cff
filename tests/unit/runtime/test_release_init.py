"""`start` reading the exec fifo (runtime.container._release_init) when the init fails a
startContainer hook: its message must reach `start` even when the init has exited between two
polls (the race that let `start` exit 0 on a busy machine)."""
import os
import threading

from pyrt.runtime import container


def test_a_message_written_just_before_the_init_exits_is_read(tmp_path, monkeypatch):
    fifo = str(tmp_path / "exec.fifo")
    os.mkfifo(fifo)
    wrote = threading.Event()

    def init():  # the init: released (its byte), then the hook's message, then gone
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, b"0")
        os.write(fd, b"startContainer hook /bin/sh exited with status 1")
        os.close(fd)
        wrote.set()
    t = threading.Thread(target=init, daemon=True)

    class Poller:
        """The first poll sees the byte; the next one times out, and by then the init wrote its
        message and exited: the window the drain closes."""
        calls = 0

        def register(self, *_):
            t.start()

        def poll(self, _timeout):
            Poller.calls += 1
            assert wrote.wait(30)
            return [(0, 1)] if Poller.calls == 1 else []
    import select
    monkeypatch.setattr(select, "poll", Poller)
    monkeypatch.setattr(container.proc, "alive", lambda *_: not wrote.is_set())
    # the reader's open must not block: O_NONBLOCK; the init's open for writing then proceeds
    got = container._release_init(fifo, 4242, 1, until_exec=True)
    assert got == b"startContainer hook /bin/sh exited with status 1"
    assert not os.path.exists(fifo)
