#!/usr/bin/env python3
"""Builds a local copy of the riscv-tests ISA suite for QEMU's virt board.

The test sources and environments live outside the repository (default
~/.cache/pyqemu/riscv-tests-ref: isa/<suite>/*.S, isa/macros/scalar,
env/p, env/v, env/encoding.h), fetched from riscv-software-src/riscv-tests
and riscv/riscv-test-env with the tohost exit replaced by the SiFive test
device.  Nothing from there is ever committed.  ELFs go to
<ref>/build/<env>/<suite>-<env>-<name>; rv32 suites are built from the rv64
sources through the usual RVTEST_RV64U -> RVTEST_RV32U wrapper when the
suite has no source of its own.

    build_tests.py [--ref DIR] [SUITE...]     e.g. rv64ui rv64mi rv32ui
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_REF = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyqemu" / "riscv-tests-ref"
CC = "riscv64-unknown-elf-gcc"

EXTENSIONS = {"uc": "c", "mi": "c", "si": "c", "uzba": "_zba", "uzbb": "_zbb", "uzbs": "_zbs"}
# rv64-only tests that have no rv32 twin
RV64_ONLY = {"addiw", "addw", "subw", "sllw", "slliw", "srlw", "srliw", "sraw", "sraiw",
             "ld", "lwu", "sd", "mulw", "divw", "divuw", "remw", "remuw",
             "clzw", "ctzw", "cpopw", "rolw", "rorw", "roriw", "add_uw", "sh1add_uw",
             "sh2add_uw", "sh3add_uw", "slli_uw", "icache-alias", "ld-misaligned", "sd-misaligned", "amoadd_d", "amoand_d", "amomax_d",
             "amomaxu_d", "amomin_d", "amominu_d", "amoor_d", "amoswap_d", "amoxor_d"}
# double-precision check macros of test_macros.h that have an rv32 (D32) twin
D32_MACROS = ("TEST_FP_OP1_D", "TEST_FP_OP2_D", "TEST_FP_OP3_D", "TEST_FP_CMP_OP_D", "TEST_FCLASS_D",
              "TEST_FP_INT_OP_D", "TEST_INT_FP_OP_D", "TEST_FP_OP1_D_DWORD_RESULT", "TEST_FCVT_S_D")
# local rv64 float sources that use rv64-only instructions (fmv.d.x, fcvt.l.s, ld);
# upstream has separate rv32 sources for these, not fetched
RV64_ONLY_FLOAT = {"uf": {"fclass", "fcvt", "fcvt_w", "ldst", "move"},
                   "ud": {"move", "structural"}}
ENVS = {"p": ["env/p/link.ld"], "v": ["env/v/link.ld"]}


def march(suite: str) -> tuple[str, str]:
    xlen = suite[2:4]
    kind = suite[4:]
    base = f"rv{xlen}g"
    ext = EXTENSIONS.get(kind, "")
    if ext == "c":
        base += "c"
        ext = ""
    return f"{base}_zicsr_zifencei{ext}", ("lp64" if xlen == "64" else "ilp32")


def sources(ref: Path, suite: str) -> list[tuple[str, Path, bool]]:
    """(test name, source, needs rv32 wrapper) for a suite."""
    own = ref / "isa" / suite
    found = {p.stem: (p.stem, p, False) for p in sorted(own.glob("*.S"))} if own.is_dir() else {}
    if suite.startswith("rv32"):
        twin = ref / "isa" / ("rv64" + suite[4:])
        for p in sorted(twin.glob("*.S")):
            if (p.stem not in found and p.stem not in RV64_ONLY
                    and p.stem not in RV64_ONLY_FLOAT.get(suite[4:], ())):
                found[p.stem] = (p.stem, p, True)
    return sorted(found.values())


def build(ref: Path, suite: str, env: str, name: str, src: Path, wrap: bool) -> tuple[bool, str]:
    out_dir = ref / "build" / env
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / f"{suite}-{env}-{name}"
    arch, abi = march(suite)
    source = src
    if wrap:
        wrapper_dir = ref / "build" / "wrappers" / suite
        wrapper_dir.mkdir(parents=True, exist_ok=True)
        source = wrapper_dir / f"{name}.S"
        kind = suite[4:]
        macro64 = "RVTEST_RV64UF" if kind in ("uf", "ud") else (
            "RVTEST_RV64M" if kind == "mi" else "RVTEST_RV64S" if kind == "si" else "RVTEST_RV64U")
        text = f'#include "riscv_test.h"\n#undef {macro64}\n#define {macro64} {macro64.replace("64", "32")}\n'
        if kind in ("uf", "ud"):
            # rv32 keeps a double in two integer registers: the upstream rv32ud
            # wrappers switch every double-precision check to its D32 form
            text += '#include "test_macros.h"\n' + "".join(
                f"#undef {m}\n#define {m} {m.replace('_D', '_D32', 1)}\n" for m in D32_MACROS)
        source.write_text(text + f'#include "{src}"\n')
    env_dir = ref / "env" / env
    cmd = [CC, f"-march={arch}", f"-mabi={abi}", "-static", "-mcmodel=medany",
           "-fvisibility=hidden", "-nostdlib", "-nostartfiles",
           f"-I{env_dir}", f"-I{ref / 'env'}", f"-I{ref / 'isa' / 'macros' / 'scalar'}",
           f"-I{src.parent}", "-T", str(env_dir / "link.ld"), "-o", str(elf), str(source)]
    if env == "v":
        cmd[-1:-1] = [str(env_dir / "entry.S"), str(env_dir / "vm.c"), str(env_dir / "string.c")]
        cmd[1:1] = ["-O2", "-DENTROPY=0xdeadbeef", "-std=gnu99", "-ffreestanding"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        errors = [l for l in result.stderr.splitlines() if "error" in l.lower()]
        return False, (errors or result.stderr.splitlines() or ["?"])[0]
    return True, str(elf)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, default=DEFAULT_REF)
    parser.add_argument("--env", action="append", choices=sorted(ENVS), help="p and/or v (default both available)")
    parser.add_argument("suites", nargs="*")
    args = parser.parse_args(argv)
    ref = args.ref
    if not (ref / "isa").is_dir():
        print(f"build_tests.py: no riscv-tests sources under {ref}/isa", file=sys.stderr)
        return 2
    suites = args.suites or sorted(p.name for p in (ref / "isa").iterdir()
                                   if p.is_dir() and p.name.startswith("rv"))
    envs = args.env or [e for e in ("p", "v") if (ref / "env" / e / "riscv_test.h").exists()]
    built = failed = 0
    for suite in suites:
        for env in envs:
            if env == "v" and suite[4:] in ("mi", "si"):
                continue   # machine/supervisor tests exist only in the p environment
            for name, src, wrap in sources(ref, suite):
                ok, detail = build(ref, suite, env, name, src, wrap)
                if ok:
                    built += 1
                else:
                    failed += 1
                    print(f"build failed: {suite}-{env}-{name}: {detail}", file=sys.stderr)
    print(f"built {built}, failed {failed}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
