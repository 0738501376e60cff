"""Named and anonymous volumes: directories under <root>/volumes/<name>/_data, as docker lays them.

A volume in use by a container (any state) cannot be removed without force; `prune` removes
the unused ones. Anonymous volumes (an image's VOLUME) go with their container on `rm -v`.
"""
from __future__ import annotations

import json
import os
import shutil

from pyrt.engine.errors import Conflict, InvalidArgument, NotFound
from pyrt.engine.model import Volume

_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def validate_name(name: str) -> None:
    if not name or not name[0].isascii() or not name[0].isalnum() or not set(name) <= _CHARS or len(name) > 255:
        raise InvalidArgument(f"invalid volume name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


class VolumeStore:
    def __init__(self, root: str, users):
        self.root = os.path.join(root, "volumes")
        self.users = users          # name -> container names using it
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def _meta(self, name: str) -> str:
        return os.path.join(self.root, name, "volume.json")

    def create(self, name: str = "", labels: dict | None = None, anonymous: bool = False) -> Volume:
        if not name:
            name = os.urandom(32).hex()     # secrets.token_hex, without its imports
        validate_name(name)
        d = os.path.join(self.root, name)
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            if anonymous:
                raise Conflict(f"volume {name} already exists") from None
            return self.get(name)      # docker: creating an existing volume returns it
        from pyrt.engine.logs import now_rfc3339
        os.mkdir(os.path.join(d, "_data"), 0o755)
        vol = Volume(name=name, mountpoint=self.path(name), created=now_rfc3339(), labels=dict(labels or {}),
                     anonymous=anonymous)
        tmp = self._meta(name) + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"created": vol.created, "labels": vol.labels, "anonymous": anonymous}, f)
        os.replace(tmp, self._meta(name))
        return vol

    def ensure(self, name: str) -> Volume:
        try:
            return self.get(name)
        except NotFound:
            return self.create(name)

    def get(self, name: str) -> Volume:
        validate_name(name)
        try:
            with open(self._meta(name)) as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no such volume: {name}") from None
        return Volume(name=name, mountpoint=self.path(name), created=meta.get("created", ""),
                      labels=meta.get("labels", {}), anonymous=meta.get("anonymous", False))

    def list(self) -> list[Volume]:
        out = []
        for name in sorted(os.listdir(self.root)):
            if os.path.exists(self._meta(name)):
                out.append(self.get(name))
        return out

    def remove(self, name: str, force: bool = False) -> None:
        vol = self.get(name)
        users = self.users(name)
        if users and not force:
            raise Conflict(f"volume {name} is in use by container(s) {', '.join(users)}",
                           "remove those containers first")
        shutil.rmtree(os.path.dirname(vol.mountpoint))

    def prune(self) -> list[str]:
        gone = []
        for vol in self.list():
            if not self.users(vol.name):
                self.remove(vol.name)
                gone.append(vol.name)
        return gone
