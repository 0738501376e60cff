"""pyrt.engine.users: `-u name[:group]` read from the image's own passwd and group files."""
import os
import threading


def test_the_engine_refuses_an_image_whose_passwd_is_a_fifo(tmp_path):
    """`pyrt run/exec -u name` against such an image: one clear error at once, no hang."""
    from pyrt.engine import users
    from pyrt.engine.errors import InvalidArgument
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc" / "passwd")
    result = []

    def resolve():
        try:
            result.append(users.resolve(str(tmp_path), "app"))
        except InvalidArgument as e:
            result.append(e)
    t = threading.Thread(target=resolve, daemon=True)
    t.start()
    t.join(30)
    assert result and str(result[0]) == "/etc/passwd in the image is not a regular file", result
