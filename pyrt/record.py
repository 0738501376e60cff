"""Small immutable records in place of @dataclass(frozen=True), for every layer: the spec models,
the cgroup layout, the init's arguments.

Why not dataclasses: importing it pulls in `inspect` (~5 ms) and every class costs a handful of
compiled functions (~0.2 ms each); with ~25 model classes that was ~10 ms of every
`pyrt-runc create/run`, before any real work. Here a class declares its fields as annotated
class attributes (a value is the default, `field(default_factory=...)` a per-instance default);
__init__, ==, hash and repr are generic methods of the base, so defining a class costs little.

    class Pids(Record):
        limit: int | None = None
    Pids(limit=5) == Pids(5); replace(p, limit=6); field_names(p) == ("limit",)
"""
from __future__ import annotations

_NO_DEFAULT = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def field(*, default_factory):
    """A default built per instance (lists, dicts, nested records)."""
    return _Factory(default_factory)


class FrozenInstanceError(AttributeError):
    pass


class Record:
    """Base of the frozen models; `class X(Record, frozen=False)` makes a mutable one."""
    _fields: tuple = ()
    _defaults: dict = {}
    _frozen = True

    def __init_subclass__(cls, frozen: bool = True, **kw):
        super().__init_subclass__(**kw)
        names, defaults = [], {}
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if name.startswith("_"):
                    continue
                if name not in names:
                    names.append(name)
                value = klass.__dict__.get(name, _NO_DEFAULT)
                if value is not _NO_DEFAULT:
                    defaults[name] = value
        cls._fields, cls._defaults, cls._frozen = tuple(names), defaults, frozen
        for name, value in defaults.items():
            if isinstance(value, _Factory) and name in cls.__dict__:
                delattr(cls, name)   # a factory is no value: instances always set their own

    def __init__(self, *args, **kwargs):
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} positional arguments")
        values = dict(zip(fields, args))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
            values[name] = value
        d = self.__dict__
        for name in fields:
            if name in values:
                d[name] = values[name]
                continue
            default = self._defaults.get(name, _NO_DEFAULT)
            if default is _NO_DEFAULT:
                raise TypeError(f"{type(self).__name__}() missing required argument {name!r}")
            d[name] = default.make() if isinstance(default, _Factory) else default

    def _values(self) -> tuple:
        return tuple(self.__dict__[n] for n in self._fields)

    def __setattr__(self, name, value):
        if self._frozen:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        if name not in self._fields:  # a mutable record still has only its fields (a typo fails)
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if self._frozen:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        if not self._frozen:
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash(self._values())

    def __repr__(self):
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self._values()))
        return f"{type(self).__name__}({inner})"


def replace(obj: Record, **changes) -> Record:
    """A copy of OBJ with CHANGES (as dataclasses.replace)."""
    values = dict(zip(obj._fields, obj._values()))
    values.update(changes)
    return type(obj)(**values)


def field_names(obj) -> tuple:
    return obj._fields


def is_record(obj) -> bool:
    return isinstance(obj, Record)
