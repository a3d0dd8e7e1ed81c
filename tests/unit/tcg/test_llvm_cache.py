"""The on-disk cache of native code (llvm_cache.py): a second run of a
program loads its regions instead of compiling them and still matches
qemu-riscv64; damaged cache files are recompiled, not loaded; the key tells
apart regions whose text is the same but whose helpers differ.

Blocks are compiled after 50 runs here (PYQEMU_LLVM_HOT_RUNS), so the
loops of the test program run natively.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llvmlite")

from pyqemu.accel.tcg import llvm_cache, llvm_engine  # noqa: E402
from pyqemu.accel.tcg.ir import Block, Const, Op, Opc  # noqa: E402
from pyqemu.accel.tcg.llvm_lower import lower_block  # noqa: E402
from pyqemu.target.riscv import op_helper  # noqa: E402


def _run(program, cache, stats: Path, **env):
    env = dict(os.environ, PYQEMU_LLVM_HOT_RUNS="50", PYQEMU_JIT_CACHE=str(cache),
               PYQEMU_STATS_FILE=str(stats), **env)
    got = subprocess.run([sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", "llvm",
                          str(program)], capture_output=True, text=True, env=env, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    st = dict(line.split("=", 1) for line in stats.read_text().split())
    return got.stdout, int(st["jit_regions"]), int(st["jit_cache_hits"])


def _objects(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


def test_second_run_loads_the_regions_and_matches_qemu(regions_program, regions_reference,
                                                      tmp_path):
    program, reference = regions_program, regions_reference
    cache = tmp_path / "jit"
    out, regions, hits = _run(program, cache, tmp_path / "stats")
    assert out == reference
    assert regions > 0 and hits == 0
    files = _objects(cache)
    assert len(files) == regions
    out, regions2, hits = _run(program, cache, tmp_path / "stats")
    assert out == reference
    assert hits == regions2 == regions
    assert _objects(cache) == files


def test_damaged_files_are_compiled_again(regions_program, regions_reference, tmp_path):
    program, reference = regions_program, regions_reference
    cache = tmp_path / "jit"
    _, regions, _ = _run(program, cache, tmp_path / "stats")
    files = _objects(cache)
    for i, f in enumerate(files):
        data = f.read_bytes()
        if i % 3 == 0:
            f.write_bytes(data[:len(data) // 2])                          # truncated
        elif i % 3 == 1:
            f.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:]))  # flipped bits
        else:
            f.write_bytes(b"\x7fELF" + os.urandom(len(data)))              # not ours at all
    out, regions2, hits = _run(program, cache, tmp_path / "stats")
    assert out == reference
    assert (regions2, hits) == (regions, 0)
    # Rewritten sound: a third run loads them all.
    out, _, hits = _run(program, cache, tmp_path / "stats")
    assert out == reference and hits == regions


def test_off_writes_nothing(regions_program, regions_reference, tmp_path):
    program, reference = regions_program, regions_reference
    home = tmp_path / "home"
    out, regions, hits = _run(program, "off", tmp_path / "stats", HOME=str(home),
                              XDG_CACHE_HOME=str(home / ".cache"))
    assert out == reference and regions > 0 and hits == 0
    assert not home.exists() or not _objects(home)


def test_object_cache_rejects_what_it_did_not_write(tmp_path):
    c = llvm_cache.ObjectCache(tmp_path)
    key = "ab" * 32
    assert c.load(key) is None
    c.store(key, b"object bytes")
    assert c.load(key) == b"object bytes"
    path = tmp_path / key[:2] / key
    path.write_bytes(path.read_bytes()[:-1])
    assert c.load(key) is None and not path.exists()
    assert c.rejected == 1


def test_trim_removes_the_least_recently_used(tmp_path):
    c = llvm_cache.ObjectCache(tmp_path, limit=4000)
    keys = [f"{i:02x}" * 32 for i in range(6)]
    for i, k in enumerate(keys):
        c.store(k, bytes(1000))
        os.utime(tmp_path / k[:2] / k, (1000 + i, 1000 + i))
    os.utime(tmp_path / keys[0][:2] / keys[0], (2000, 2000))    # the oldest, but used last
    c.trim()
    left = {p.name for p in _objects(tmp_path)}
    # 6 files of about 1 KB, over 4000 bytes: the least recently used go
    # until at most 3000 bytes are left.
    assert left == {keys[0], keys[5]}


def _module_helper(cpu, x):
    return x


def test_helper_names_only_for_module_functions():
    assert llvm_cache.helper_name(op_helper.orc_b) == "pyqemu.target.riscv.op_helper.orc_b"
    y = 1

    def closure(cpu):
        return y
    assert llvm_cache.helper_name(closure) is None
    assert llvm_cache.helper_name(lambda cpu: 0) is None
    assert llvm_cache.helper_name(functools.partial(_module_helper, x=1)) is None
    # Helpers made at run time name themselves.
    assert (llvm_cache.helper_name(op_helper.AMO_HELPERS["add"])
            == "pyqemu.target.riscv.op_helper.amo_add")


def _calling_block(pc: int, const: int) -> Block:
    blk = Block(pc, 0)
    blk.xlen = 64
    blk.insn_pcs = [pc]
    blk.ops = [Op(Opc.INSN_START, a=Const(pc)),
               Op(Opc.CALL, d=10, aux=_module_helper, args=(Const(const),)),
               Op(Opc.GOTO_TB, a=Const(pc + 4))]
    return blk


def test_regions_differing_only_in_bound_constants_are_compiled_apart(monkeypatch, tmp_path):
    """The constants a helper is called with live in Python, not in the
    text: two such regions have the same text and must still get functions
    of their own (with their own call sites)."""
    monkeypatch.setenv("PYQEMU_JIT_CACHE", str(tmp_path))
    a, b = _calling_block(0x1000, 1), _calling_block(0x1000, 2)
    assert lower_block(a, "f").text == lower_block(b, "f").text
    comp = llvm_engine.compiler()
    fa, _ = comp.compile(a)
    fb, _ = comp.compile(b)
    assert fa != fb
    assert llvm_engine._SITES[fa][0].args == ((True, 1),)
    assert llvm_engine._SITES[fb][0].args == ((True, 2),)
    # The same region again is the same function.
    assert comp.compile(_calling_block(0x1000, 1))[0] == fa
