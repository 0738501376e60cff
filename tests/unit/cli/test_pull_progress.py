"""Pull progress output (plain lines, terminal bars, quiet) and the WWW-Authenticate parser."""
import io

from pyrt.cli import pull_progress as progress
from pyrt.image.registry import _parse_challenge

D = "sha256:" + "0123456789ab" + "0" * 52


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_for_stream_picks_by_terminal():
    assert isinstance(progress.for_stream(True, _Tty()), progress.Quiet)
    assert type(progress.for_stream(False, _Tty())) is progress.Bars
    assert type(progress.for_stream(False, io.StringIO())) is progress.Plain


def test_plain_lines():
    out = io.StringIO()
    p = progress.Plain(out)
    p.start(D, 2_500_000, "layer")
    p.advance(D, 1000)
    p.done(D, "Download complete")
    p.skip(D, 10, "Already exists")
    p.message("Pulled x")
    assert out.getvalue().splitlines() == [
        "Copying layer 0123456789ab (2.5 MB)", "Download complete: 0123456789ab",
        "Already exists: 0123456789ab", "Pulled x"]


def test_bars_redraw_in_place():
    out = _Tty()
    b = progress.Bars(out, interval=0)
    b.start(D, 1000, "layer")
    b.advance(D, 500)
    b.done(D, "Download complete")
    b.close()
    text = out.getvalue()
    assert "[" + "=" * 15 + " " * 15 + "]" in text and "500 B/1.0 kB" in text and "B/s" in text
    assert "\x1b[1F\x1b[J" in text          # cursor up one line, clear: the row is redrawn
    assert text.rstrip().endswith("layer 0123456789ab: Download complete")


def _pull_calls(p):
    p.start(D, 1)
    p.advance(D, 1)
    p.done(D, "x")
    p.skip(D, 1, "y")
    p.message("z")
    p.close()


def test_quiet_is_silent(capsys):
    """The calls a pull makes: Plain writes four lines for them, quiet (`pull -q`) writes nothing,
    not to the stream it was asked for, nor to stdout or stderr."""
    loud = io.StringIO()
    _pull_calls(progress.for_stream(False, loud))
    assert len(loud.getvalue().splitlines()) == 4
    for out in (io.StringIO(), _Tty()):
        _pull_calls(progress.for_stream(True, out))
        assert out.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_challenge_parsing():
    scheme, params = _parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/alpine:pull"}
    assert _parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
