"""The fingerprint kernels, written as explicit vector loops in LLVM IR and compiled for this CPU.

One call reduces one contiguous piece on one core: the XOR of ``mix(x0 + (k+1)*GOLDEN)`` for
k in [0, count), the state stepped by an add of GOLDEN per color.  The loop is the one a C
programmer writes with intrinsics: ``LANES`` colors per vector (8 on AVX-512, 4 on AVX2, 2
otherwise), ``ACCUMULATORS`` independent vectors a step, then the remainder one color at a
time.  LLVM lowers the 64-bit vector multiply to ``vpmullq`` where the CPU has AVX512DQ (three
``vpmuludq`` otherwise) and folds ``acc ^ z ^ (z >> 31)`` into one ``vpternlogq`` on AVX-512.

Why not numba (docs/kernel.md): importing numba costs a fresh process about 0.4 s of CPU
before its first color, which a short run cannot afford; llvmlite (numba's own LLVM binding,
installed with it) loads cached machine code in a few milliseconds.  The machine code is
cached per CPU, features, llvmlite and this file's text in ``hostinfo.cache_root()``, outside
site-packages; a read-only or missing cache folder only means compiling (about 0.1 s).

The call goes through ctypes, which releases the GIL: the runner gets all cores from plain
Python threads.  ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` retarget it as they retarget
numba (the bench uses them to emulate an AVX2-only CPU).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from pathlib import Path

from ..gayhy import GOLDEN32, MIX1_32, MIX2_32
from ..hostinfo import cache_root
from ..spi import GOLDEN, MIX1, MIX2

# name -> (bits, golden, multiplier 1, multiplier 2, the three shifts)
HASHES = {
    "canonical": (64, GOLDEN, MIX1, MIX2, (30, 27, 31)),
    "gayhy-turbo32": (32, GOLDEN32, MIX1_32, MIX2_32, (15, 13, 16)),
}
VECTOR_BITS = 512
ACCUMULATORS = 2  # independent vectors per step: 2 measured faster than 4 or 8 (docs/kernel.md)

_lock = threading.Lock()
_loaded: dict[str, object] = {}  # "engine", "target", and one ctypes function per hash


def target() -> tuple[str, str]:
    """(CPU name, LLVM feature string) the kernels compile for: NUMBA_CPU_NAME/FEATURES, else this host."""
    import llvmlite.binding as ll

    name = os.environ.get("NUMBA_CPU_NAME")
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if not name or name == "host":
        name = ll.get_host_cpu_name()
        if features is None:
            features = ll.get_host_cpu_features().flatten()
    return name, features or ""


def build_ir() -> str:
    """The LLVM IR module: one function ``exo_gay_xor_<hash>(i64 x0, i64 count)`` per hash.

    Vectors are 512 bits whatever the CPU: LLVM splits them into the registers it has (two
    ymm on AVX2), which measured as fast as or faster than vectors of the native width
    (docs/kernel.md), and keeps the IR, and the cache key, independent of the vector width.
    """
    from llvmlite import ir

    module = ir.Module(name="exo_gay_kernels")
    for name, spec in HASHES.items():
        _Builder(ir, module, name.replace("-", "_"), *spec, lanes=VECTOR_BITS // spec[0]).build()
    return str(module)


class _Builder:
    """One kernel function in four blocks: entry (the lane states), loop (the vector steps),
    after (fold the accumulators into one word), tail (the last < one step of colors, one at a time)."""

    def __init__(self, ir, module, name, bits, golden, m1, m2, shifts, lanes):  # noqa: PLR0913
        self.ir, self.bits, self.golden, self.lanes = ir, bits, golden, lanes
        self.m1, self.m2, self.shifts = m1, m2, shifts
        self.t, self.i64, self.i32 = ir.IntType(bits), ir.IntType(64), ir.IntType(32)
        self.vt = ir.VectorType(self.t, lanes)
        self.block = lanes * ACCUMULATORS  # colors per step of the vector loop
        self.fn = ir.Function(module, ir.FunctionType(self.t, [self.i64, self.i64]), name=f"exo_gay_xor_{name}")
        self.blocks = {n: self.fn.append_basic_block(n) for n in ("entry", "loop", "after", "tail", "done")}

    def const(self, v, vector: bool = False):
        c = self.ir.Constant(self.t, v & ((1 << self.bits) - 1))
        return self.ir.Constant(self.vt, [c] * self.lanes) if vector else c

    def lanes_const(self, vs):
        return self.ir.Constant(self.vt, [self.const(v) for v in vs])

    def finalise(self, b, z, vector: bool):
        """SplitMix's finaliser up to its last shift: (z, z >> s3), for the caller to fold."""
        s1, s2, s3 = (self.const(s, vector) for s in self.shifts)
        z = b.mul(b.xor(z, b.lshr(z, s1)), self.const(self.m1, vector))
        z = b.mul(b.xor(z, b.lshr(z, s2)), self.const(self.m2, vector))
        return z, b.lshr(z, s3)

    def build(self) -> None:
        x0, count = self.fn.args
        xs, starts, steps = self.entry(x0, count)
        new_accs = self.vector_loop(starts, steps)
        acc0, x_tail, rest = self.after(new_accs, xs, steps, count)
        acc_next = self.tail(acc0, x_tail, rest)
        b = self.ir.IRBuilder(self.blocks["done"])
        result = b.phi(self.t)
        result.add_incoming(acc0, self.blocks["after"])
        result.add_incoming(acc_next, self.blocks["tail"])
        b.ret(result)

    def entry(self, x0, count):
        ir, bl, lanes = self.ir, self.blocks, self.lanes
        b = ir.IRBuilder(bl["entry"])
        xs = b.add(b.trunc(x0, self.t) if self.bits < 64 else x0, self.const(self.golden))  # color 0's state
        undef = ir.Constant(self.vt, ir.Undefined)
        splat = b.shuffle_vector(b.insert_element(undef, xs, ir.Constant(self.i32, 0)), undef,
                                 ir.Constant(ir.VectorType(self.i32, lanes), [0] * lanes))
        starts = [b.add(splat, self.lanes_const([(u * lanes + j) * self.golden for j in range(lanes)]))
                  for u in range(ACCUMULATORS)]
        steps = b.lshr(count, ir.Constant(self.i64, self.block.bit_length() - 1))
        b.cbranch(b.icmp_unsigned("!=", steps, ir.Constant(self.i64, 0)), bl["loop"], bl["after"])
        return xs, starts, steps

    def vector_loop(self, starts, steps):
        ir, bl = self.ir, self.blocks
        b = ir.IRBuilder(bl["loop"])
        i = b.phi(self.i64)
        states = [b.phi(self.vt) for _ in starts]
        accs = [b.phi(self.vt) for _ in starts]
        new_states, new_accs = [], []
        for s, a in zip(states, accs, strict=True):
            z, zs = self.finalise(b, s, vector=True)
            new_accs.append(b.xor(b.xor(a, z), zs))
            new_states.append(b.add(s, self.const(self.block * self.golden, vector=True)))
        i_next = b.add(i, ir.Constant(self.i64, 1))
        b.cbranch(b.icmp_unsigned("!=", i_next, steps), bl["loop"], bl["after"])
        i.add_incoming(ir.Constant(self.i64, 0), bl["entry"])
        i.add_incoming(i_next, bl["loop"])
        for phi, start, new in zip(states + accs, starts + [self.const(0, True)] * len(accs), new_states + new_accs,
                                   strict=True):
            phi.add_incoming(start, bl["entry"])
            phi.add_incoming(new, bl["loop"])
        return new_accs

    def after(self, new_accs, xs, steps, count):
        ir, bl = self.ir, self.blocks
        b = ir.IRBuilder(bl["after"])
        finals = [b.phi(self.vt) for _ in new_accs]
        for a, new in zip(finals, new_accs, strict=True):
            a.add_incoming(self.const(0, True), bl["entry"])
            a.add_incoming(new, bl["loop"])
        folded = finals[0]
        for a in finals[1:]:
            folded = b.xor(folded, a)
        acc0 = b.extract_element(folded, ir.Constant(self.i32, 0))
        for j in range(1, self.lanes):
            acc0 = b.xor(acc0, b.extract_element(folded, ir.Constant(self.i32, j)))
        done_steps = b.trunc(steps, self.t) if self.bits < 64 else steps
        x_tail = b.add(xs, b.mul(done_steps, self.const(self.block * self.golden)))
        rest = b.and_(count, ir.Constant(self.i64, self.block - 1))
        b.cbranch(b.icmp_unsigned("!=", rest, ir.Constant(self.i64, 0)), bl["tail"], bl["done"])
        return acc0, x_tail, rest

    def tail(self, acc0, x_tail, rest):
        ir, bl = self.ir, self.blocks
        b = ir.IRBuilder(bl["tail"])
        k, x, acc = b.phi(self.i64), b.phi(self.t), b.phi(self.t)
        z, zs = self.finalise(b, x, vector=False)
        acc_next = b.xor(b.xor(acc, z), zs)
        k_next = b.add(k, ir.Constant(self.i64, 1))
        x_next = b.add(x, self.const(self.golden))
        b.cbranch(b.icmp_unsigned("!=", k_next, rest), bl["tail"], bl["done"])
        for phi, first, nxt in ((k, ir.Constant(self.i64, 0), k_next), (x, x_tail, x_next), (acc, acc0, acc_next)):
            phi.add_incoming(first, bl["after"])
            phi.add_incoming(nxt, bl["tail"])
        return acc_next


def _target_machine(name: str, features: str):
    import llvmlite.binding as ll

    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    return ll.Target.from_default_triple().create_target_machine(cpu=name, features=features, opt=3,
                                                               codemodel="jitdefault")


def _optimised(tm):
    import llvmlite.binding as ll

    mod = ll.parse_assembly(build_ir())
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pb = ll.create_pass_builder(tm, ll.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    return mod


def _cache_file(name: str, features: str, triple: str) -> Path:
    import llvmlite

    key = hashlib.sha256("\0".join((Path(__file__).read_text(), name, features, triple,
                                    llvmlite.__version__)).encode()).hexdigest()[:24]
    return cache_root() / "kernels" / f"xor-{name}-{key}.o"


def _object_code(tm, name: str, features: str, use_cache: bool) -> tuple[bytes, str | None]:
    """The machine code, from the cache when it holds this target's, else compiled (and stored)."""
    path = _cache_file(name, features, tm.triple) if use_cache else None
    if path is not None:
        try:
            return path.read_bytes(), str(path)
        except OSError:
            pass
    obj = tm.emit_object(_optimised(tm))
    if path is not None:
        try:  # a cache that cannot be written is not an error: the next process compiles again
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(obj)
            os.replace(tmp, path)
        except OSError:
            path = None
    return obj, str(path) if path else None


def compile_kernels(name: str, features: str, use_cache: bool = True) -> dict[str, object]:
    """The kernels compiled (or loaded) for CPU ``name`` with ``features``: hash -> ctypes function.

    The dict also holds the engine that owns the code (keep the dict alive while calling them),
    the target, and the cache file used (None: compiled in this process and not stored).
    """
    import llvmlite.binding as ll

    tm = _target_machine(name, features)
    obj, cache_file = _object_code(tm, name, features, use_cache)
    empty = ll.parse_assembly("")
    empty.triple = tm.triple
    engine = ll.create_mcjit_compiler(empty, tm)
    engine.add_object_file(ll.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    out: dict[str, object] = {"engine": engine, "target": (name, features), "cache_file": cache_file}
    for h, (bits, *_rest) in HASHES.items():
        ret = ctypes.c_uint64 if bits == 64 else ctypes.c_uint32
        addr = engine.get_function_address(f"exo_gay_xor_{h.replace('-', '_')}")
        if not addr:
            raise ImportError(f"the compiled {h} kernel has no address")
        out[h] = ctypes.CFUNCTYPE(ret, ctypes.c_uint64, ctypes.c_uint64)(addr)
    return out


def _load() -> dict[str, object]:
    """This process's kernels, for target(): loaded once, kept alive here."""
    with _lock:
        if not _loaded:
            _loaded.update(compile_kernels(*target()))
        return _loaded


def kernel(hash_name: str):
    """The ctypes function ``f(x0, count)`` for ``hash_name`` (compiled or loaded on first use)."""
    return _load()[hash_name]


def loaded_target() -> tuple[str, str]:
    return _load()["target"]  # type: ignore[return-value]


def asm() -> str:
    """The kernels' assembly as compiled for this process's target (for the bench's statistics)."""
    name, features = target()
    tm = _target_machine(name, features)
    return tm.emit_assembly(_optimised(tm))
