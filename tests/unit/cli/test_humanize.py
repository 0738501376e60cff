"""pyrt.cli.humanize: the one size formatter, as `pyrt images` and pull's progress show sizes."""
from pyrt.cli.humanize import size
from pyrt.cli.pull_progress import _size


def test_images_sizes_as_docker_shows_them():
    assert [size(n) for n in (0, 999, 1000, 12345, 4_300_000, 10**9, 5 * 10**12)] == [
        "0 B", "999 B", "1 kB", "12.3 kB", "4.3 MB", "1 GB", "5e+03 GB"]


def test_progress_sizes_keep_one_decimal():
    assert [_size(n) for n in (512.7, 1000, 1_536_000, 2.5e9)] == ["512 B", "1.0 kB", "1.5 MB", "2.5 GB"]
    assert size(1536, "{:.4g}{}", 1024, ("B", "KiB", "MiB")) == "1.5KiB"
