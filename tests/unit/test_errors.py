import pytest

from pyrt import errors


def test_exit_codes_are_distinct_and_documented():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.PyrtError)]
    # a kind that refines another (the engine's NotFound is a NotFoundError) keeps its code
    codes = [c.exit_code for c in classes if "exit_code" in vars(c)]
    assert len(codes) == len(set(codes))
    with open("docs/exit-codes.md") as f:
        doc = f.read()
    for c in classes:
        assert f"| {c.exit_code} |" in doc and c.__name__ in doc


def test_message_and_hint():
    e = errors.AuthError("authentication required", hint="run pyrt login localhost:5000")
    assert str(e) == "authentication required (run pyrt login localhost:5000)"
    assert e.exit_code == 11
    with pytest.raises(errors.RegistryError):
        raise e
