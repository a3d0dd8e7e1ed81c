"""The pycodegen backend on real guest code, against the interpreter.

1. The self-checking test guests (tests/guests, built with the RISC-V gcc)
   run on the virt board under both backends: same exit status, same UART
   output, and the same final hart state and RAM.
2. Random straight-line and looping RISC-V code, assembled by gcc, runs on a
   bare hart under both backends: same registers, pc, instret and memory.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyqemu.accel.tcg.interp import InterpBackend
from pyqemu.accel.tcg.pycodegen import PyCodegenBackend
from pyqemu.chardev.parse import parse_serial
from pyqemu.machine.riscv.virt import VirtConfig, VirtMachine
from pyqemu.memory.address_space import AddressSpace
from pyqemu.memory.region import RamRegion
from pyqemu.target.riscv.cpu import RISCVCPU

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "guests"))
import build as guest_build  # noqa: E402  (tests/guests is not a package)

GCC = "riscv64-unknown-elf-gcc"
needs_gcc = pytest.mark.skipif(shutil.which(GCC) is None, reason=f"{GCC} not installed")

# Guests whose run does not depend on the host's clock (no timer, no time
# CSR), so both backends must end in exactly the same state.
DETERMINISTIC_GUESTS = ("rv64i", "rv64m", "rv64a", "rv64c", "rv64zb", "misaligned", "traps",
                        "sv39", "fp_d", "rv32i", "rv32zb", "rv32traps")


def _hart_state(cpu):
    return (list(cpu.r[:64]), cpu.pc, cpu.instret, cpu.priv, cpu.mstatus, cpu.mcause,
            cpu.mepc, cpu.mtval, cpu.scause, cpu.sepc, cpu.stval, cpu.fflags)


def _run_guest(name, backend, tmp_path):
    guest = guest_build.GUESTS[name]
    out = tmp_path / f"{name}-{backend.name}.txt"
    m = VirtMachine(VirtConfig(xlen=guest.xlen, backend=backend, bios="none",
                               kernel=str(guest_build.build(guest)),
                               serial=parse_serial(f"file:{out}")))
    status = m.run()
    m.cfg.serial.close() if hasattr(m.cfg.serial, "close") else None
    ram = hashlib.sha256(m.ram.mem[:1 << 20]).hexdigest()
    return status, out.read_text(errors="replace"), _hart_state(m.harts[0]), ram


@needs_gcc
@pytest.mark.parametrize("name", DETERMINISTIC_GUESTS)
def test_guest_same_as_interpreter(name, tmp_path):
    expected = guest_build.GUESTS[name].expected_exit
    want = _run_guest(name, InterpBackend(), tmp_path)
    got = _run_guest(name, PyCodegenBackend(hot_threshold=0), tmp_path)
    assert want[0] == expected, f"{name} fails on the interpreter:\n{want[1][-500:]}"
    assert got[0] == expected, f"{name} fails on pycodegen:\n{got[1][-500:]}"
    assert got[1] == want[1]
    assert got[2] == want[2]
    assert got[3] == want[3]


# -- random code on a bare hart ----------------------------------------------------------
_ALU_RR = ("add", "sub", "and", "or", "xor", "sll", "srl", "sra", "slt", "sltu", "addw", "subw",
           "sllw", "srlw", "sraw", "mul", "mulh", "mulhu", "mulhsu", "mulw", "div", "divu", "rem",
           "remu", "divw", "divuw", "remw", "remuw", "sh1add", "sh2add", "sh3add", "add.uw",
           "andn", "orn", "xnor", "min", "max", "minu", "maxu", "rol", "ror", "rolw", "rorw",
           "bclr", "bset", "binv", "bext")
_ALU_RI = ("addi", "andi", "ori", "xori", "slti", "sltiu", "addiw")
_SHIFT_I = ("slli", "srli", "srai", "rori", "bclri", "bseti", "binvi", "bexti")
_SHIFT_IW = ("slliw", "srliw", "sraiw", "roriw")
_UNARY = ("clz", "ctz", "cpop", "clzw", "ctzw", "cpopw", "sext.b", "sext.h", "zext.h", "rev8",
          "orc.b")
_LOADS = (("lb", 1), ("lbu", 1), ("lh", 2), ("lhu", 2), ("lw", 4), ("lwu", 4), ("ld", 8))
_STORES = (("sb", 1), ("sh", 2), ("sw", 4), ("sd", 8))
# a0-a7, t0-t6 and s2-s11 are scratch; s0 points at the data area, s1 counts loops.
_REGS = [f"a{i}" for i in range(8)] + [f"t{i}" for i in range(7)] + [f"s{i}" for i in range(2, 12)]


def _random_program(rng: random.Random) -> str:
    lines = [".option norvc" if rng.random() < 0.5 else ".option rvc",
             ".globl _start", "_start:", "la t0, trap", "csrw mtvec, t0", "la s0, data", "li s1, 5"]
    for r in _REGS:
        lines.append(f"li {r}, {rng.getrandbits(64) if rng.random() < 0.7 else rng.randrange(-50, 50)}")
    lines.append("loop:")
    for _ in range(rng.randrange(20, 60)):
        kind = rng.random()
        rd, rs1, rs2 = rng.choice(_REGS), rng.choice(_REGS), rng.choice(_REGS)
        if kind < 0.35:
            lines.append(f"{rng.choice(_ALU_RR)} {rd}, {rs1}, {rs2}")
        elif kind < 0.5:
            lines.append(f"{rng.choice(_ALU_RI)} {rd}, {rs1}, {rng.randrange(-2048, 2048)}")
        elif kind < 0.58:
            lines.append(f"{rng.choice(_SHIFT_I)} {rd}, {rs1}, {rng.randrange(64)}")
        elif kind < 0.62:
            lines.append(f"{rng.choice(_SHIFT_IW)} {rd}, {rs1}, {rng.randrange(32)}")
        elif kind < 0.68:
            lines.append(f"{rng.choice(_UNARY)} {rd}, {rs1}")
        elif kind < 0.8:
            op, size = rng.choice(_LOADS)
            # Aligned or not (misaligned accesses take the slow path).
            lines.append(f"{op} {rd}, {rng.randrange(0, 256 - size, rng.choice((1, size)))}(s0)")
        elif kind < 0.9:
            op, size = rng.choice(_STORES)
            lines.append(f"{op} {rs2}, {rng.randrange(0, 256 - size, rng.choice((1, size)))}(s0)")
        elif kind < 0.95:
            # A forward branch over one instruction: blocks end at branches.
            cond = rng.choice(("beq", "bne", "blt", "bge", "bltu", "bgeu"))
            lines.append(f"{cond} {rs1}, {rs2}, 1f")
            lines.append(f"addi {rd}, {rd}, 1")
            lines.append("1:")
        else:
            lines.append(f"lui {rd}, {rng.randrange(1 << 20)}")
    # The end: ebreak traps to a handler that waits for an interrupt forever.
    lines += ["addi s1, s1, -1", "bnez s1, loop", "ebreak", ".balign 4", "trap:", "wfi", "j trap",
              ".data", ".balign 8", "data:"]
    lines += [f".quad {rng.getrandbits(64)}" for _ in range(40)]
    return "\n".join(lines) + "\n"


def _assemble(src: str, tmp_path: Path) -> tuple[bytes, bytes]:
    asm = tmp_path / "prog.S"
    asm.write_text(src)
    elf = tmp_path / "prog.elf"
    subprocess.run([GCC, "-march=rv64gc_zba_zbb_zbs", "-mabi=lp64d", "-nostdlib", "-nostartfiles",
                    "-Wl,-Ttext=0x80000000", "-Wl,-Tdata=0x80010000", "-o", str(elf), str(asm)],
                   check=True, capture_output=True)
    out = {}
    for section in (".text", ".data"):
        binf = tmp_path / f"prog{section}.bin"
        subprocess.run(["riscv64-unknown-elf-objcopy", "-O", "binary", "-j", section,
                        str(elf), str(binf)], check=True, capture_output=True)
        out[section] = binf.read_bytes()
    return out[".text"], out[".data"]


class _NoEvents:
    pending = False


def _run_bare(backend, text: bytes, data: bytes):
    bus = AddressSpace()
    ram = RamRegion("ram", 1 << 20)
    bus.map(0x80000000, ram)
    cpu = RISCVCPU(0, 64, bus, backend=backend)
    ram.load(0, text)
    ram.load(0x10000, data)
    cpu.pc = 0x80000000
    for _ in range(200):
        cpu.run_slice(64, _NoEvents)
        if cpu.waiting:                    # in the trap handler: the program's end
            break
    return _hart_state(cpu), bytes(ram.mem[0x10000:0x10200])


@needs_gcc
@pytest.mark.parametrize("seed", range(8))
def test_random_code_same_as_interpreter(seed, tmp_path):
    rng = random.Random(seed)
    text, data = _assemble(_random_program(rng), tmp_path)
    want = _run_bare(InterpBackend(), text, data)
    got = _run_bare(PyCodegenBackend(hot_threshold=0), text, data)
    assert want[0][5] == 3, "the program did not reach its ebreak"
    assert got == want
