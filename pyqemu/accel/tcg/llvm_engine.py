"""The LLVM backend: tiers, the native compiler, the Python callbacks.

A block starts on the Python tiers (pycodegen's, which itself starts on
the interpreter); on its `hot_runs`-th run it is lowered to LLVM IR
(llvm_lower.py) together with the warm blocks it jumps to directly on the
same page (a region: a loop of several blocks becomes one function),
optimised and compiled to machine code by MCJIT (in the system emulator
at -O0, and again at -O1 when it has run long enough: `PROMOTE_INSNS`),
and the `code` of each member becomes a small Python function that enters
native code:

- the hart's state is its `NativeState` (llvm_state.py), created when the
  CPU is built (`attach`), with `cpu.r` a view of its register words;
- native code runs that block and every block it chains to through the
  native block table, up to a budget of blocks, and returns STOPPED (budget
  spent or Python asked for control: a TLB or translation flush, a pending
  interrupt, WFI), MISS (the next block has no native code in the table:
  Python looks it up and runs it) or EXCEPTION (the exception a callback
  caught is re-raised here, with PC and instret already precise);
- entering a block installs it in the table, so a block compiled after its
  predecessors is chained to from the next time on.

Native code calls back into Python for helpers and for memory accesses the
native TLB does not cover (ctypes callbacks, which take the GIL back; the
native code itself runs with the GIL released).

Compiled code is never freed: a flush only empties the table, so a block
running while its translation is dropped finishes safely.

Why blocks are compiled on the vCPU thread, not on a second one: an LLVM
compile of a region costs 10-30 ms of CPU wherever it runs, and meanwhile
the guest would go on in the Python tiers, which cost more CPU than the
native code it waits for; the benchmarks count CPU time (both threads).
"""

from __future__ import annotations

import copy
import importlib.util
import mmap
import os
import ctypes
import struct
import threading
import time

from .cpu_exec import SliceEnd
from .ir import Block, Const, Opc
from .llvm_inline import INLINE_HELPERS
from .llvm_lower import MEM_SIGNED, MEM_STORE, SYM_HELPER_CB, SYM_MEM_CB, SYM_USER_BASE, \
    SYM_USER_CODE, SYM_USER_PROT, CallSite, Unsupported, lower_block
from .llvm_state import NativeState, Status, UserMemory, Word
from .pycodegen import PyCodegenBackend

M64 = (1 << 64) - 1

# Blocks run this many times on the Python tiers before they are compiled:
# compiling costs about as much as a few hundred Python runs of a block
# (2-3 ms against 3-10 us). PYQEMU_LLVM_HOT_RUNS overrides it (tests use a
# low value so that short programs run natively).
HOT_RUNS = int(os.environ.get("PYQEMU_LLVM_HOT_RUNS", "1000"))
# Blocks one entry into native code may run before it returns to Python
# (which then checks interrupts, timers and posted work; in user mode
# only signals, so entries there run longer: each costs a few microseconds).
BUDGET = 10_000            # instructions
BUDGET_USER = 500_000
# A block turning hot is compiled together with the warm blocks it jumps
# to directly on the same guest page (up to REGION_BLOCKS of them, each
# run at least a quarter as often as the hot threshold): one function, so
# a loop of several blocks keeps its registers in machine registers and
# branches inside instead of chaining through the table. PYQEMU_LLVM_REGION
# overrides the size (1: a function per block).
REGION_BLOCKS = int(os.environ.get("PYQEMU_LLVM_REGION", "8"))
# In system mode a region is first compiled at -O0, and again at -O1 once
# native entries into it have run this many guest instructions (an entry's
# run is counted where it entered; entries come where slices and misses
# end, a sample of where time goes). -O0 costs half as much and its code
# runs about half as fast: a Linux boot, whose regions are mostly lukewarm,
# took 8-10% less CPU so (89 against 98 s, 87 against 95). User-mode
# programs have few regions, most of them hot: they lost 2-4% so (gzip,
# Lua) and compile at -O1 at once. PYQEMU_LLVM_PROMOTE sets both (0: -O1
# at once).
_PROMOTE_ENV = os.environ.get("PYQEMU_LLVM_PROMOTE")
PROMOTE_INSNS = int(_PROMOTE_ENV or 20_000_000)
PROMOTE_INSNS_USER = int(_PROMOTE_ENV or 0)

_BLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
_HELPER_CB = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
_MEM_CB = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64,
                           ctypes.c_uint64)

_PACK = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"),
         8: struct.Struct("<Q")}

# Native state address -> NativeState, function address -> its call sites:
# what the callbacks find from the integers native code hands them.
_STATES: dict[int, NativeState] = {}
_SITES: dict[int, list[CallSite]] = {}
# id(host buffer) -> (buffer, host address): the buffers TLB entries point
# into, kept alive here so their addresses stay valid.
_BUFFERS: dict[int, tuple[object, int]] = {}


def _buffer_addr(buf) -> int | None:
    hit = _BUFFERS.get(id(buf))
    if hit is not None and hit[0] is buf:
        return hit[1]
    try:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    except (TypeError, ValueError):
        return None                     # read-only or not a buffer: stays slow
    _BUFFERS[id(buf)] = (buf, addr)
    return addr


def _sync_after_python(nat: NativeState, cpu) -> None:
    """What Python code may have changed that native code looks at."""
    w = nat.words
    w[Word.FLAGS] = cpu.flags
    w[Word.RESV] = cpu.reservation is not None
    if cpu.waiting or (cpu.mip & cpu.mie):
        w[Word.EXIT_REQ] = 1


def _helper_callback(state_addr: int, fn: int, site: int) -> int:
    nat = _STATES[state_addr]
    cpu = nat.cpu
    w = nat.words
    cs = _SITES[fn][site]
    args = [v if is_const else w[Word.ARGS + v] for is_const, v in cs.args]
    left = w[Word.BUDGET]
    cpu.instret += (w[Word.BUDGET0] - left) & M64
    w[Word.BUDGET0] = left
    cpu.pc = w[Word.PC]
    try:
        ret = cs.helper(cpu, *args)
        if cs.has_dest:
            w[Word.HRET] = ret & M64
    except BaseException as e:            # re-raised by the native entry, with precise state
        nat.exc = e
        return 1
    finally:
        _sync_after_python(nat, cpu)
    return 0


def _mem_callback(state_addr: int, kind: int, va: int, value: int) -> int:
    nat = _STATES[state_addr]
    cpu = nat.cpu
    size = kind & 15
    store = bool(kind & MEM_STORE)
    page = va >> 12
    try:
        if store:
            e = cpu.tlb_w.get(page)
            if e is not None and (va & 0xFFF) <= 4096 - size and cpu.reservation is None:
                _PACK[size].pack_into(e[0], va + e[1], value & ((1 << (8 * size)) - 1))
            else:
                cpu.store_slow(va, size, value)
                e = cpu.tlb_w.get(page)
                if nat.code_map is not None and page not in cpu.code_pages:
                    nat.code_map[page] = 0      # its code was dropped: stores go native again
        else:
            signed = bool(kind & MEM_SIGNED)
            e = cpu.tlb_r.get(page)
            if e is not None and (va & 0xFFF) <= 4096 - size:
                v = int.from_bytes(e[0][va + e[1]:va + e[1] + size], "little", signed=signed)
            else:
                v = cpu.load_slow(va, size, signed)
                e = cpu.tlb_r.get(page)
            nat.words[Word.HRET] = v & M64
        if e is not None:
            base = _buffer_addr(e[0])
            if base is not None:
                nat.fill_tlb(store, page, base + e[1])
    except BaseException as ex:
        nat.exc = ex
        return 1
    finally:
        _sync_after_python(nat, cpu)
    return 0


_HELPER_CB_OBJ = _HELPER_CB(_helper_callback)
_MEM_CB_OBJ = _MEM_CB(_mem_callback)
_HELPER_CB_ADDR = ctypes.cast(_HELPER_CB_OBJ, ctypes.c_void_p).value
_MEM_CB_ADDR = ctypes.cast(_MEM_CB_OBJ, ctypes.c_void_p).value


def _user_memory(cpu) -> tuple:
    """(UserMemory, code map) for a user-mode CPU (its guest memory is one
    host mapping with a page protection table), else (None, None)."""
    mem = getattr(cpu, "mem", None)
    if mem is None or not hasattr(mem, "prot") or not hasattr(mem, "host_base"):
        return None, None
    # One byte per guest page, like the protection table; anonymous, so
    # untouched parts cost nothing.
    code_map = mmap.mmap(-1, len(mem.prot))
    prot_addr = _buffer_addr(mem.prot)
    code_addr = _buffer_addr(code_map)
    if prot_addr is None or code_addr is None:
        return None, None
    return UserMemory(mem.host_base, mem.size, prot_addr, code_addr), code_map


def _logger(cpu):
    """The CPU's -d log, if it has one (a CPU-like object may use the name for something else)."""
    log = getattr(cpu, "log", None)
    return log if hasattr(log, "enabled") else None


def _direct_targets(blk: Block) -> list[int]:
    return [op.a.value for op in blk.ops if op.opc is Opc.GOTO_TB and isinstance(op.a, Const)]


def _code_unchanged(blk: Block, read_code) -> bool:
    """Whether the guest bytes a block was translated from are still those
    in memory (a block without a RAM copy of them never counts as such)."""
    return blk.code_bytes is not None and read_code(blk.src) == blk.code_bytes


def _join_code_ranges(region: list[Block], cpu) -> None:
    """Every member of a region runs the others' code: each is checked (after
    a fence.i) against the bytes of the whole range the region covers on
    its page, so a change to any member drops all of them."""
    lo = min(m.src[0][0] for m in region)
    hi = max(m.src[0][0] + m.src[0][1] for m in region)
    src = ((lo, hi - lo),)
    data = cpu._read_code(src)
    gen = cpu.code_gen
    for m in region:
        m.src, m.code_bytes, m.gen = src, data, gen


# The passes `_Compiler._optimise` runs, and the code generator's settings
# (its optimisation level is added per compile): part of every cache key (a
# change to either makes new keys).
_PIPELINE = "sroa,instcombine,simplifycfg;jitdefault"
# The name lowering gives a region before its key (and so its real name) is known.
_PLACEHOLDER = "pyqemu.region"


class _Compiler:
    """One LLVM target machine and MCJIT engine for the process."""

    def __init__(self):
        import llvmlite
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.llvm = llvm
        target = llvm.Target.from_default_triple()
        # Code generators by level (`LLVMBackend` says which runs when): -O1
        # for hot code (-O2 and -O3 cost as much and gained nothing measurable
        # on regions); -O0, fast instruction selection and register
        # allocation, costs half as much and its code runs about 2x slower.
        self.tms = {level: target.create_target_machine(opt=level, codemodel="jitdefault")
                    for level in (0, 1)}
        # The engine owns the target machine it is given: its own one.
        self.engine = llvm.create_mcjit_compiler(
            llvm.parse_assembly(""), target.create_target_machine(opt=1, codemodel="jitdefault"))
        # The tuning options must outlive the pass builder that refers to them.
        self.pto = llvm.create_pipeline_tuning_options(speed_level=1)
        self.pb = llvm.create_pass_builder(self.tms[1], self.pto)
        self.lock = threading.Lock()
        self.count = 0
        self.promoted = 0                   # regions compiled again at -O1
        # CPU seconds spent lowering, optimising and compiling (the
        # benchmarks report it beside the total).
        self.seconds = 0.0
        self.init_seconds = 0.0             # loading LLVM (set by `compiler`)
        # What the code calls and reads by name (llvm_lower.SYM_*).
        llvm.add_symbol(SYM_HELPER_CB, _HELPER_CB_ADDR)
        # Imported here, with LLVM: hashlib, tempfile and pathlib cost about
        # 14 ms of start-up, which a program that never compiles need not pay.
        from . import llvm_cache
        self.llvm_cache = llvm_cache
        llvm.add_symbol(SYM_MEM_CB, _MEM_CB_ADDR)
        self.user: UserMemory | None = None
        # Regions compiled in this process, by key: the same text twice
        # (a region translated again after a flush) is the same code.
        self.by_key: dict[str, int] = {}
        self.build = (f"{llvm_cache.MAGIC!r};llvmlite {llvmlite.__version__};"
                      f"llvm {llvm.llvm_version_info};{llvm.get_default_triple()};{_PIPELINE}")
        root = llvm_cache.default_dir()
        self.cache = llvm_cache.ObjectCache(root) if root is not None else None

    def _optimise(self, mod) -> None:
        """The passes that pay on a region: temporaries to SSA (guest
        registers live in allocas), folding, branches merged. GVN and
        dead-store elimination were here too; with registers in SSA values
        they found little, and without them a compile costs 15-20% less
        (gzip -9: 1.09 s -> 0.95 s of compiles, lua: 0.53 s -> 0.44 s)
        with no measurable loss in the native code."""
        pm = self.llvm.create_new_module_pass_manager()   # runs once: passes are consumed
        pm.add_sroa_pass()
        pm.add_instruction_combine_pass()
        pm.add_simplify_cfg_pass()
        pm.run(mod, self.pb)

    def _define_user(self, user: UserMemory | None) -> None:
        """The user-mode layout symbols, before code that reads them is loaded
        (one guest memory per process; an execve makes a new one, and code
        loaded for the old one is unreachable by then)."""
        if user is not None and user != self.user:
            self.llvm.add_symbol(SYM_USER_BASE, user.host_base)
            self.llvm.add_symbol(SYM_USER_PROT, user.prot_addr)
            self.llvm.add_symbol(SYM_USER_CODE, user.code_map_addr)
            self.user = user

    def compile(self, blk: Block | list[Block], want_asm: bool = False,
                user: UserMemory | None = None, level: int = 1) -> tuple[int, str]:
        """Native code for a block or a region (a list of blocks, entered at
        any of them), generated at optimisation `level` (0 or 1):
        (function address, assembly if asked)."""
        with self.lock:
            t0 = time.thread_time()
            try:
                return self._compile(blk, want_asm, user, level)
            finally:
                self.seconds += time.thread_time() - t0

    def _compile(self, blk, want_asm, user, level) -> tuple[int, str]:
        self._define_user(user)
        low = lower_block(blk, _PLACEHOLDER, INLINE_HELPERS, user)
        text = "\n".join(sorted(low.declares)) + "\n" + low.text
        # The call sites are not in the text (their helpers and constant
        # arguments live in Python): the key covers them too.
        names = [self.llvm_cache.helper_name(cs.helper) for cs in low.call_sites]
        key = None
        if not want_asm and None not in names:
            sites = [f"{n} {cs.args!r} {cs.has_dest}" for n, cs in zip(names, low.call_sites)]
            key = self.llvm_cache.region_key(text, sites, f"{self.build};codegen-O{level}")
            fn = self.by_key.get(key)
            if fn is not None:
                return fn, ""
        self.count += 1
        # A cacheable region is named by its key (the name is in its object
        # file, and one process loads each key once); another by a count.
        head = blk[0] if isinstance(blk, list) else blk
        name = f"r{key}" if key is not None else f"tb{self.count}_{head.pc:x}"
        obj = self.cache.load(key) if key is not None and self.cache is not None else None
        asm = ""
        if obj is None:
            mod = self.llvm.parse_assembly(text.replace(f"@{_PLACEHOLDER}", f"@{name}"))
            mod.verify()
            self._optimise(mod)
            tm = self.tms[level]
            if want_asm:
                asm = tm.emit_assembly(mod)
            # The object file, generated here rather than inside MCJIT so that
            # it can be kept.
            obj = tm.emit_object(mod)
            if key is not None and self.cache is not None:
                self.cache.store(key, obj)
        self.engine.add_object_file(self.llvm.ObjectFileRef.from_data(obj))
        self.engine.finalize_object()
        fn = self.engine.get_function_address(name)
        if not fn:
            raise RuntimeError(f"no function {name} in the object")
        _SITES[fn] = low.call_sites
        if key is not None:
            self.by_key[key] = fn
        return fn, asm


_compiler: _Compiler | None = None
_compiler_lock = threading.Lock()


def compiler() -> _Compiler:
    global _compiler
    with _compiler_lock:
        if _compiler is None:
            t0 = time.thread_time()
            _compiler = _Compiler()
            _compiler.init_seconds = time.thread_time() - t0
        return _compiler


def compile_stats() -> dict[str, float]:
    """What native compilation cost this process so far (CPU seconds to load
    LLVM and to compile regions; regions compiled, of them loaded from the
    on-disk cache, of them compiled again at -O1)."""
    c = _compiler
    if c is None:
        return {"jit_init_s": 0.0, "jit_compile_s": 0.0, "jit_regions": 0, "jit_cache_hits": 0,
                "jit_promoted": 0}
    return {"jit_init_s": round(c.init_seconds, 4), "jit_compile_s": round(c.seconds, 4),
            "jit_regions": c.count, "jit_cache_hits": c.cache.hits if c.cache else 0,
            "jit_promoted": c.promoted}


class _Native:
    """A compiled region: its member blocks, the level its code was
    generated at, the function, and the guest instructions run by entries
    into it so far (what decides a promotion to -O1)."""

    __slots__ = ("members", "level", "fn", "ran")

    def __init__(self, members: list[Block], level: int, fn: int):
        self.members = members
        self.level = level
        self.fn = fn
        self.ran = 0


class LLVMBackend:
    """Compiles hot blocks to native code through LLVM (see the module docstring)."""

    name = "llvm"

    def __init__(self, hot_runs: int = HOT_RUNS, budget: int = BUDGET,
                 budget_user: int = BUDGET_USER, region_blocks: int = REGION_BLOCKS,
                 promote_insns: int = PROMOTE_INSNS,
                 promote_insns_user: int = PROMOTE_INSNS_USER):
        # Only looked for here: loading LLVM costs about 0.1 s of CPU, which a
        # program that never runs a block hot enough does not pay.
        if importlib.util.find_spec("llvmlite") is None:
            raise ValueError("TCG backend 'llvm' needs llvmlite (not installed)")
        self.hot_runs = hot_runs
        self.budget = budget
        self.budget_user = budget_user
        self.region_blocks = region_blocks
        self.promote_insns = promote_insns
        self.promote_insns_user = promote_insns_user
        self._cold = PyCodegenBackend()
        self.compiled = 0
        self.failed = 0
        self.last_failure = ""

    # -- the CPU's native state -----------------------------------------------------
    def attach(self, cpu) -> NativeState:
        """Give a CPU its native state; its register file moves there."""
        nat = NativeState(*_user_memory(cpu))
        nat.cpu = cpu
        old = cpu.r
        cpu.r = nat.regs
        for i, v in enumerate(old[:len(nat.regs)]):
            if v:
                nat.regs[i] = v
        _STATES[nat.addr] = nat
        return nat

    # -- tiers ------------------------------------------------------------------------
    def compile(self, blk: Block) -> None:
        # The Python tiers replace the `code` of the block they compile when
        # it turns hot in their own sense: they get a copy to do that on.
        shadow = copy.copy(blk)
        self._cold.compile(shadow)
        hot_runs = self.hot_runs
        # Runs so far, read when a hot neighbour forms a region.
        blk.llvm_runs = 0

        def cold(cpu):
            return shadow.code(cpu)

        def warm_up(cpu):
            runs = blk.llvm_runs = blk.llvm_runs + 1
            if runs < hot_runs or getattr(cpu, "native", None) is None:
                return cold(cpu)
            run = self.compile_native(blk, cpu)
            if run is None:
                blk.code = cold
                return cold(cpu)
            return run(cpu)

        blk.code = warm_up

    def compile_native(self, blk: Block, cpu):
        """Compile a block now, with the warm blocks of its region; their
        `code` becomes the native entry (None when the block cannot be
        compiled: it stays on the Python tiers)."""
        level = 0 if self._promote_after(cpu) > 0 else 1
        region = self._region(blk, cpu)
        got = self._compile_members(region, cpu, level) if len(region) > 1 else None
        if got is None:
            region = [blk]
            got = self._compile_members(region, cpu, level)
            if got is None:
                return None
        if len(region) > 1:
            _join_code_ranges(region, cpu)
        self._install(_Native(region, level, got), cpu)
        return blk.code

    def _promote_after(self, cpu) -> int:
        return self.promote_insns if cpu.native.user is None else self.promote_insns_user

    def _install(self, rec: _Native, cpu) -> None:
        nat = cpu.native
        for m in rec.members:
            m.code = self._entry(m, rec, cpu)
            nat.install_block(m.pc, m.flags, rec.fn)

    def _promote(self, rec: _Native, cpu) -> None:
        """Compile a region again at -O1 (it has run enough at -O0) if every
        member is still the translation its pc runs, with its code unchanged
        (else try again after as many instructions more)."""
        caches = getattr(cpu, "tb_caches", {})
        read_code = getattr(cpu, "_read_code", None)
        for m in rec.members:
            cache = caches.get(m.flags)
            if (cache is None or cache.get(m.pc) is not m or read_code is None
                    or not _code_unchanged(m, read_code)):
                rec.ran = 0
                return
        rec.level = 1
        fn = self._compile_members(rec.members, cpu, 1)
        if fn is None:
            return
        rec.fn = fn
        compiler().promoted += 1
        self._install(rec, cpu)

    def _compile_members(self, blocks: list[Block], cpu, level: int = 1) -> int | None:
        log = _logger(cpu)
        want_asm = log is not None and log.enabled("out_asm")
        try:
            fn, asm = compiler().compile(blocks if len(blocks) > 1 else blocks[0], want_asm,
                                         cpu.native.user, level)
        except (Unsupported, RuntimeError) as e:
            # RuntimeError: LLVM refused the module (a lowering bug). The
            # block stays on the Python tiers, which are exact.
            self.failed += 1
            self.last_failure = f"{blocks[0].pc:#x}: {e}"
            return None
        if want_asm:
            log.write(f"OUT: [size={len(asm)}]\n{asm}\n")
        self.compiled += 1
        return fn

    def _region(self, blk: Block, cpu) -> list[Block]:
        """The block and the warm blocks it reaches by direct jumps, breadth
        first, from the CPU's jump cache: same flags, same guest page (virtual
        and physical, so that anything that drops one drops all), unchanged
        since they were translated, not yet native (each block is compiled
        once, in the first region that takes it)."""
        if self.region_blocks <= 1 or len(blk.phys_pages) != 1 or len(getattr(blk, "src", ())) != 1:
            return [blk]
        cache = getattr(cpu, "tb_cur", None)
        read_code = getattr(cpu, "_read_code", None)
        if cache is None or read_code is None:
            return [blk]
        warm = max(1, self.hot_runs // 4)
        page = blk.pc >> 12
        members = [blk]
        seen = {blk.pc}
        queue = _direct_targets(blk)
        while queue and len(members) < self.region_blocks:
            pc = queue.pop(0)
            if pc in seen or pc >> 12 != page:
                continue
            seen.add(pc)
            s = cache.get(pc)
            if (s is None or s.pc != pc or s.flags != blk.flags or s.phys_pages != blk.phys_pages
                    or len(getattr(s, "src", ())) != 1 or getattr(s, "llvm_runs", 0) < warm
                    or getattr(s.code, "native", None) is not None
                    or not _code_unchanged(s, read_code)):
                continue
            members.append(s)
            queue.extend(_direct_targets(s))
        return members

    def _entry(self, blk: Block, rec: _Native, cpu):
        fn = rec.fn
        call = _BLOCK_FN(fn)
        pc, flags = blk.pc, blk.flags
        budget, budget_user = self.budget, self.budget_user
        promote = self._promote_after(cpu) if rec.level == 0 else 0

        def run(cpu):
            nat = cpu.native
            w = nat.words
            nat.install_block(pc, flags, fn)
            log = _logger(cpu)
            slice_ends = False
            # Tracing and hooks see every block: one block per entry then.
            if nat.one_block or (log is not None and (log.enabled("exec") or log.enabled("cpu"))):
                b = 1
            elif nat.user is None:
                # Not past the end of the hart's slice (-smp: the others wait).
                b = max(1, min(budget, cpu.slice_end - cpu.instret))
                slice_ends = True
                clock = getattr(cpu, "clock", None)
                if clock is not None and hasattr(clock, "begin_slice"):
                    # Time counts instructions (-icount): stop at the next
                    # timer deadline, as the Python tiers do within a block
                    # or so, so that timers fire on time.
                    left = (clock.next_deadline - clock.now_ns()) >> clock.shift
                    b = max(1, min(b, left))
            else:
                b = budget_user
            w[Word.BUDGET] = w[Word.BUDGET0] = b
            w[Word.PC] = cpu.pc
            w[Word.FLAGS] = flags
            w[Word.EXIT_REQ] = 0
            w[Word.RESV] = cpu.reservation is not None
            status = call(nat.addr)
            cpu.pc = w[Word.PC]
            ran = (w[Word.BUDGET0] - w[Word.BUDGET]) & M64
            cpu.instret += ran
            if promote:
                rec.ran += ran
                if rec.ran >= promote and rec.level == 0:
                    self._promote(rec, cpu)
            if status == Status.EXCEPTION:
                exc, nat.exc = nat.exc, None
                raise exc
            if slice_ends and cpu.instret >= cpu.slice_end:
                raise SliceEnd

        run.native = fn
        return run

    def dump_native(self, blk: Block) -> str:
        """The LLVM IR of a block (for tests and -d logs)."""
        return lower_block(blk, "tb", INLINE_HELPERS).text
