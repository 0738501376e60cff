"""The cgroup v2 device controller: device rules compiled to a BPF_PROG_TYPE_CGROUP_DEVICE program.

The kernel calls the program with a struct bpf_cgroup_dev_ctx {u32 access_type; u32 major;
u32 minor;} where access_type = access << 16 | type, and lets the access through if it returns 1.
As with the v1 devices lists, the last matching rule decides: rules are emitted last first, each
block returning its verdict on a match and falling through to the next otherwise.
"""
from __future__ import annotations

import struct

from pyrt.spec.resources import DeviceRule

# bpf_insn opcodes (class | op | source), from linux/bpf_common.h and linux/bpf.h
LDX_MEM_W = 0x61      # dst = *(u32 *)(src + off)
ALU32_AND_K = 0x54    # dst &= imm
ALU32_RSH_K = 0x74    # dst >>= imm
MOV64_X = 0xbf        # dst = src
MOV64_K = 0xb7        # dst = imm
JNE_K = 0x55          # if dst != imm: pc += off
JNE_X = 0x5d          # if dst != src: pc += off
EXIT = 0x95

DEV_BLOCK, DEV_CHAR = 1, 2
ACC = {"m": 1, "r": 2, "w": 4}
_TYPE = {"b": DEV_BLOCK, "c": DEV_CHAR}


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _block(rule: DeviceRule) -> list[bytes]:
    """Instructions for one rule: R2 type, R3 access, R4 major, R5 minor were loaded up front."""
    checks: list[tuple] = []        # (code, dst, src, imm) conditional jumps to the next block
    if rule.type != "a":
        checks.append((JNE_K, 2, 0, _TYPE[rule.type]))
    access = sum(ACC[a] for a in set(rule.access))
    pre: list[bytes] = []
    if rule.type != "a" and access != 7:
        # the asked access must be a subset of the rule's: (asked & rule) == asked
        pre = [insn(MOV64_X, 1, 3), insn(ALU32_AND_K, 1, imm=access)]
        checks.append((JNE_X, 1, 3, 0))
    if rule.type != "a" and rule.major is not None:
        checks.append((JNE_K, 4, 0, rule.major))
    if rule.type != "a" and rule.minor is not None:
        checks.append((JNE_K, 5, 0, rule.minor))
    # after the checks come 2 instructions: R0 = verdict; exit
    out = list(pre)
    n = len(checks)
    for i, (code, dst, src, imm) in enumerate(checks):
        # jump over the checks left and the 2-instruction verdict
        out.append(insn(code, dst, src, off=(n - 1 - i) + 2, imm=imm))
    out += [insn(MOV64_K, 0, imm=1 if rule.allow else 0), insn(EXIT)]
    # pre-instructions sit before the first check, so the offsets above are right as they are
    return out


def compile_rules(rules) -> bytes:
    """A program applying RULES in v1 order (later rules override earlier ones). Without an
    all-devices rule the start is "allow all", as a new v1 devices cgroup under an open parent."""
    prog = [
        insn(LDX_MEM_W, 2, 1, 0),           # R2 = access_type
        insn(MOV64_X, 3, 2),                # R3 = access_type
        insn(ALU32_AND_K, 2, imm=0xFFFF),   # R2 = type
        insn(ALU32_RSH_K, 3, imm=16),       # R3 = access
        insn(LDX_MEM_W, 4, 1, 4),           # R4 = major
        insn(LDX_MEM_W, 5, 1, 8),           # R5 = minor
    ]
    for rule in reversed(tuple(rules)):
        prog += _block(rule)
        if rule.type == "a":
            # matches everything: the verifier refuses code after it, which none could reach
            return b"".join(prog)
    prog += [insn(MOV64_K, 0, imm=1), insn(EXIT)]
    return b"".join(prog)


def apply(cgdir: str, rules) -> None:
    """Load the program for RULES and attach it to CGDIR, replacing the one we attached before."""
    import os

    from pyrt.cgroups import fs
    from pyrt.errors import CgroupError
    from pyrt.linux import bpf
    try:
        fd = bpf.load_device_program(compile_rules(rules))
    except OSError as e:
        raise CgroupError(f"devices: cannot load the eBPF device filter: {e.strerror}") from None
    try:
        bpf.attach_device_program(fd, cgdir)
    except OSError as e:
        raise CgroupError(f"devices: cannot attach the eBPF device filter to {cgdir}: {e.strerror}") from None
    finally:
        os.close(fd)
    fs.debug(f"devices: eBPF filter with {len(tuple(rules))} rules attached to {cgdir}")
