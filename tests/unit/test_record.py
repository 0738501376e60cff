"""pyrt.record: the frozen records the spec models are built on (dataclasses' behaviour, without
its import cost)."""
import pytest

from pyrt.record import FrozenInstanceError, Record, field, field_names, is_record, replace


class Inner(Record):
    n: int = 0


class Outer(Record):
    name: str
    inner: Inner = field(default_factory=Inner)
    tags: list = field(default_factory=list)
    limit: int | None = None


class Mutable(Record, frozen=False):
    items: list = field(default_factory=list)
    count: int = 0


def test_defaults_positional_and_keywords():
    a = Outer("a")
    assert (a.name, a.inner, a.tags, a.limit) == ("a", Inner(0), [], None)
    assert Outer("a", Inner(2), limit=3).inner.n == 2
    assert field_names(a) == ("name", "inner", "tags", "limit")
    assert a.tags is not Outer("b").tags  # a factory makes one per instance


def test_bad_construction_is_a_type_error():
    with pytest.raises(TypeError, match="missing required argument 'name'"):
        Outer()
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        Outer("a", nope=1)
    with pytest.raises(TypeError, match="multiple values"):
        Outer("a", name="b")
    with pytest.raises(TypeError, match="positional"):
        Inner(1, 2)


def test_frozen_eq_hash_repr_replace():
    a = Outer("a", limit=1)
    with pytest.raises(FrozenInstanceError):
        a.limit = 2
    with pytest.raises(AttributeError):
        del a.name
    assert a == Outer("a", limit=1) and a != Outer("a", limit=2) and a != Inner()
    assert hash(Inner(3)) == hash(Inner(3))
    assert repr(Inner(3)) == "Inner(n=3)"
    b = replace(a, limit=5)
    assert (b.name, b.limit, a.limit) == ("a", 5, 1)
    assert is_record(b) and not is_record({})


def test_mutable_record():
    m = Mutable()
    m.count += 1
    m.items.append("x")
    assert m == Mutable(["x"], 1)
    with pytest.raises(TypeError):
        hash(m)
    with pytest.raises(AttributeError, match="no field 'cuont'"):
        m.cuont = 2  # a typo is an error, as with __slots__, not a new attribute
