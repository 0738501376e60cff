"""pyrt.cgroups.placement against temporary directories standing in for cgroups (no root): what is
opened, what the new process writes to join, and when the parent falls back to moving it."""
import os

from pyrt.cgroups import placement


def _cgroup(tmp_path, name, files=("tasks",)):
    d = tmp_path / name
    d.mkdir()
    for f in files:
        (d / f).write_text("")
    return str(d)


def test_a_new_process_joins_the_v1_hierarchies_through_the_files_opened_before(tmp_path):
    """fork() into opened `tasks` files: the child writes 0 to each (it moves itself) and the
    parent learns it was placed; the parent's copies of the fds are closed."""
    a, b = _cgroup(tmp_path, "memory"), _cgroup(tmp_path, "pids")
    opened = placement.open_dirs({"v1": [a, b], "v2": None})
    assert opened is not None and opened[1:] == (-1, None) and len(opened[0]) == 2
    pid, placed = placement.fork(opened, who="test")
    if pid == 0:
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert placed
    assert [open(os.path.join(d, "tasks")).read() for d in (a, b)] == ["0", "0"]
    for fd in opened[0]:
        try:
            os.fstat(fd)
        except OSError:
            continue
        raise AssertionError(f"fd {fd} of a tasks file is still open in the parent")


def test_nothing_opened_means_a_plain_fork_and_the_parent_moves_the_process(tmp_path):
    """A hierarchy without a `tasks` file cannot be joined from inside: open_dirs says so (None),
    fork() forks plainly (not placed), and settle() moves the process the old way."""
    assert placement.open_dirs({"v1": [_cgroup(tmp_path, "cpu", files=())], "v2": None}) is None
    pid, placed = placement.fork(None, who="test")
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert not placed

    class Manager:
        moved = []

        def apply(self, p):
            self.moved.append(p)
    m = Manager()
    placement.settle(m, pid, placed)
    placement.settle(m, 4242, True)
    assert m.moved == [pid]
    assert placement.targets(type("M", (), {"v1_dirs": lambda self: ["/a"], "v2": "/u"})()) == {"v1": ["/a"], "v2": "/u"}
