"""The cgroup v2 device filter program, run by a small interpreter of the few eBPF instructions
it uses (the kernel runs it for real in tests/integration/test_cgroups_real.py)."""
from __future__ import annotations

import struct

import pytest

from pyrt.cgroups import devfilter
from pyrt.cgroups.devices import effective_rules
from pyrt.spec.resources import DeviceRule

M = 0xFFFFFFFF


def run(prog: bytes, dev_type: str, major: int, minor: int, access: str) -> int:
    ctx = ((sum(devfilter.ACC[a] for a in access) << 16) | {"b": 1, "c": 2}[dev_type], major, minor)
    regs = [0] * 11
    pc, steps = 0, 0
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    while True:
        steps += 1
        assert steps < 10_000 and 0 <= pc < len(insns), "ran off the program"
        code, regs_byte, off, imm = insns[pc]
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == devfilter.LDX_MEM_W:
            assert src == 1 and off in (0, 4, 8)
            regs[dst] = ctx[off // 4]
        elif code == devfilter.MOV64_X:
            regs[dst] = regs[src]
        elif code == devfilter.MOV64_K:
            regs[dst] = imm
        elif code == devfilter.ALU32_AND_K:
            regs[dst] = (regs[dst] & imm) & M
        elif code == devfilter.ALU32_RSH_K:
            regs[dst] = (regs[dst] & M) >> imm
        elif code == devfilter.JNE_K:
            pc += off if regs[dst] != imm else 0
        elif code == devfilter.JNE_X:
            pc += off if regs[dst] != regs[src] else 0
        elif code == devfilter.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def rules(*dicts):
    return tuple(DeviceRule(**d) for d in dicts)


def test_runcs_default_spec_denies_all_but_the_always_allowed():
    prog = devfilter.compile_rules(effective_rules(rules({"allow": False})))
    assert run(prog, "c", 1, 3, "rw") == 1        # /dev/null
    assert run(prog, "c", 136, 7, "rwm") == 1     # /dev/pts/7
    assert run(prog, "b", 8, 0, "m") == 1         # mknod of any block device
    assert run(prog, "b", 8, 0, "r") == 0         # but no reading it
    assert run(prog, "c", 10, 229, "rw") == 0     # /dev/fuse


def test_access_subsets_and_later_rules_win():
    prog = devfilter.compile_rules(rules(
        {"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": None, "access": "rw"},
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}))
    assert run(prog, "c", 1, 3, "r") == 1
    assert run(prog, "c", 1, 3, "rw") == 1
    assert run(prog, "c", 1, 3, "m") == 0         # m was not granted
    assert run(prog, "c", 1, 5, "w") == 0         # the later deny wins
    assert run(prog, "c", 1, 5, "r") == 1
    assert run(prog, "b", 1, 3, "r") == 0         # type checked


def test_no_all_devices_rule_starts_open_like_a_v1_cgroup():
    prog = devfilter.compile_rules(rules({"allow": False, "type": "c", "major": 10, "minor": 229}))
    assert run(prog, "c", 10, 229, "r") == 0
    assert run(prog, "c", 1, 3, "r") == 1


@pytest.mark.parametrize("allow", [True, False])
def test_a_final_all_rule_decides_everything(allow):
    prog = devfilter.compile_rules(rules({"allow": not allow, "type": "c", "major": 1, "minor": 3},
                                         {"allow": allow}))
    assert run(prog, "c", 1, 3, "r") == int(allow)
    assert run(prog, "b", 7, 0, "rwm") == int(allow)
