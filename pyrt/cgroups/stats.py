"""Usage statistics in the shape `runc events --stats` prints (its types.Stats JSON).

One reader per controller and version; each takes the directory holding that controller's files.
"""
from __future__ import annotations

import os

from pyrt.cgroups import fs

_MAX_U64 = 2**64 - 1
_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _ints(cgdir: str, name: str) -> list[int]:
    try:
        return [int(x) for x in fs.read(cgdir, name).split()]
    except (FileNotFoundError, ValueError):
        return []


def _limit(cgdir: str, name: str) -> int:
    try:
        text = fs.read(cgdir, name)
    except FileNotFoundError:
        return 0
    return _MAX_U64 if text == "max" else int(text)


def cpu_v1(cpu_dir: str | None, cpuacct_dir: str | None) -> dict:
    usage, throttling = {}, {}
    if cpuacct_dir:
        acct = fs.read_keyed(cpuacct_dir, "cpuacct.stat")
        usage = {
            "total": fs.read_int(cpuacct_dir, "cpuacct.usage"),
            "percpu": _ints(cpuacct_dir, "cpuacct.usage_percpu"),
            "percpu_kernel": _ints(cpuacct_dir, "cpuacct.usage_percpu_sys"),
            "percpu_user": _ints(cpuacct_dir, "cpuacct.usage_percpu_user"),
            "kernel": acct.get("system", 0) * _NS_PER_TICK,
            "user": acct.get("user", 0) * _NS_PER_TICK,
        }
    if cpu_dir:
        st = fs.read_keyed(cpu_dir, "cpu.stat")
        throttling = {"periods": st.get("nr_periods", 0), "throttled_periods": st.get("nr_throttled", 0),
                      "throttled_time": st.get("throttled_time", 0)}
    return {"usage": usage, "throttling": throttling}


def cpu_v2(cgdir: str) -> dict:
    st = fs.read_keyed(cgdir, "cpu.stat")   # usage_* lines exist even without the cpu controller
    return {
        "usage": {"total": st.get("usage_usec", 0) * 1000, "kernel": st.get("system_usec", 0) * 1000,
                  "user": st.get("user_usec", 0) * 1000},
        "throttling": {"periods": st.get("nr_periods", 0), "throttled_periods": st.get("nr_throttled", 0),
                       "throttled_time": st.get("throttled_usec", 0) * 1000},
    }


def _v1_usage(cgdir: str, prefix: str) -> dict:
    return {
        "usage": fs.read_int(cgdir, prefix + "usage_in_bytes"),
        "max": fs.read_int(cgdir, prefix + "max_usage_in_bytes"),
        "failcnt": fs.read_int(cgdir, prefix + "failcnt"),
        "limit": fs.read_int(cgdir, prefix + "limit_in_bytes"),
    }


def memory_v1(cgdir: str) -> dict:
    raw = fs.read_keyed(cgdir, "memory.stat")
    return {
        "cache": raw.get("total_cache", raw.get("cache", 0)),
        "usage": _v1_usage(cgdir, "memory."),
        "swap": _v1_usage(cgdir, "memory.memsw."),
        "kernel": _v1_usage(cgdir, "memory.kmem."),
        "kernelTCP": _v1_usage(cgdir, "memory.kmem.tcp."),
        "raw": raw,
    }


def memory_v2(cgdir: str) -> dict:
    raw = fs.read_keyed(cgdir, "memory.stat")
    events = fs.read_keyed(cgdir, "memory.events")
    usage = fs.read_int(cgdir, "memory.current")
    swap = fs.read_int(cgdir, "memory.swap.current")
    return {
        "cache": raw.get("file", 0),
        "usage": {"usage": usage, "max": fs.read_int(cgdir, "memory.peak"),
                  "failcnt": events.get("max", 0), "limit": _limit(cgdir, "memory.max")},
        # runc reports v2 swap as memory+swap, the v1 meaning.
        "swap": {"usage": usage + swap, "limit": _limit(cgdir, "memory.swap.max"),
                 "failcnt": 0, "max": 0},
        "raw": raw,
    }


def pids(cgdir: str) -> dict:
    """pids.current / pids.max: the same files on v1 and v2."""
    return {"current": fs.read_int(cgdir, "pids.current"), "limit": fs.read_int(cgdir, "pids.max")}


def _blkio_entries(cgdir: str, name: str) -> list[dict]:
    out = []
    try:
        text = fs.read(cgdir, name)
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def blkio_v1(cgdir: str) -> dict:
    return {
        "ioServiceBytesRecursive": _blkio_entries(cgdir, "blkio.throttle.io_service_bytes_recursive"),
        "ioServicedRecursive": _blkio_entries(cgdir, "blkio.throttle.io_serviced_recursive"),
    }


def io_v2(cgdir: str) -> dict:
    """io.stat ('8:0 rbytes=.. wbytes=.. rios=.. wios=..') in the v1 entry shape, as runc does."""
    nbytes, nios = [], []
    try:
        text = fs.read(cgdir, "io.stat")
    except FileNotFoundError:
        text = ""
    names = {"rbytes": "Read", "wbytes": "Write", "rios": "Read", "wios": "Write"}
    for line in text.splitlines():
        dev, *kvs = line.split()
        major, minor = (int(x) for x in dev.split(":"))
        for kv in kvs:
            k, _, v = kv.partition("=")
            if k in names:
                target = nbytes if k.endswith("bytes") else nios
                target.append({"major": major, "minor": minor, "op": names[k], "value": int(v)})
    return {"ioServiceBytesRecursive": nbytes, "ioServicedRecursive": nios}


def _page_sizes(cgdir: str, suffix: str) -> list[str]:
    try:
        names = os.listdir(cgdir)
    except OSError:
        return []
    return sorted(n[len("hugetlb."):-len(suffix)] for n in names
                  if n.startswith("hugetlb.") and n.endswith(suffix) and ".rsvd." not in n)


def hugetlb_v1(cgdir: str) -> dict:
    return {size: {"usage": fs.read_int(cgdir, f"hugetlb.{size}.usage_in_bytes"),
                   "max": fs.read_int(cgdir, f"hugetlb.{size}.max_usage_in_bytes"),
                   "failcnt": fs.read_int(cgdir, f"hugetlb.{size}.failcnt")}
            for size in _page_sizes(cgdir, ".limit_in_bytes")}


def hugetlb_v2(cgdir: str) -> dict:
    # v2 keeps no high-water mark; runc reports 0 for it
    return {size: {"usage": fs.read_int(cgdir, f"hugetlb.{size}.current"), "max": 0,
                   "failcnt": fs.read_keyed(cgdir, f"hugetlb.{size}.events").get("max", 0)}
            for size in _page_sizes(cgdir, ".max")}
