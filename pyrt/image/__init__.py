"""Images: references, registry client, content store, safe unpack, snapshots. No syscalls beyond file I/O."""
