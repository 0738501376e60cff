"""What `pyrt images` and `pyrt image inspect` show: rows and JSON built from image records (presentation:
it lives with the CLI)."""
from __future__ import annotations

import datetime
import json
import re

from pyrt.cli.humanize import size as human_size
from pyrt.image.store import ImageRecord, ImageStore


def _ago(created: str | None) -> str:
    if not created:
        return "N/A"
    try:
        # Go writes nanoseconds; fromisoformat takes at most microseconds.
        t = datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", created.replace("Z", "+00:00")))
    except ValueError:
        return created
    secs = (datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "Less than a minute ago"


def image_rows(store: ImageStore) -> list[dict]:
    """One row per (image, tag); untagged images get one row with <none>."""
    rows = []
    for r in store.records():
        tags = store.tags_of(r.id) or [None]
        for t in tags:
            repo, tag = ("<none>", "<none>") if t is None else t.rsplit(":", 1)
            digest = next((d.split("@", 1)[1] for d in r.repo_digests
                           if t is None or d.split("@", 1)[0] == repo), "<none>")
            rows.append({"Repository": repo, "Tag": tag, "Digest": digest, "ID": r.id,
                         "Created": r.created, "Size": r.size})
    rows.sort(key=lambda x: (x["Repository"], x["Tag"]))
    return rows


def render_images(store: ImageStore, *, quiet: bool, digests: bool, fmt: str, no_trunc: bool) -> str:
    rows = image_rows(store)
    if quiet:
        ids = []
        for row in rows:
            i = row["ID"] if no_trunc else row["ID"][7:19]
            if i not in ids:
                ids.append(i)
        return "".join(f"{i}\n" for i in ids)
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    head = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    table = [head]
    for row in rows:
        table.append([row["Repository"], row["Tag"]] + ([row["Digest"]] if digests else []) +
                     [row["ID"] if no_trunc else row["ID"][7:19], _ago(row["Created"]), human_size(row["Size"])])
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() + "\n" for line in table)


def inspect(store: ImageStore, r: ImageRecord) -> dict:
    cfg = store.config(r)
    return {
        "Id": r.id,
        "RepoTags": store.tags_of(r.id),
        "RepoDigests": r.repo_digests,
        "Digest": r.manifest_digest,
        "ManifestMediaType": r.manifest_media_type,
        "Created": r.created,
        "Os": r.os,
        "Architecture": r.architecture,
        "Variant": r.variant,
        "Size": r.size,
        "Config": cfg.raw.get("config") or {},
        "RootFS": {"Type": "layers", "Layers": list(cfg.diff_ids)},
        "Layers": [{"Digest": layer.digest, "MediaType": layer.media_type, "Size": layer.size,
                    "DiffID": layer.diff_id, "Dir": store.layer_dir(layer.diff_id)} for layer in r.layers],
    }
