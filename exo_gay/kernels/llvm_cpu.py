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
cached per CPU, features, llvmlite and this file's text in ``cache_dir()``, outside
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


def cache_dir() -> Path:
    """Where compiled kernels live: $EXO_GAY_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/exo-gay."""
    base = os.environ.get("EXO_GAY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "exo-gay")
    return Path(base)


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
        _build_function(ir, module, name.replace("-", "_"), *spec, lanes=VECTOR_BITS // spec[0])
    return str(module)


def _build_function(ir, module, name, bits, golden, m1, m2, shifts, lanes):  # noqa: PLR0913
    t, i64 = ir.IntType(bits), ir.IntType(64)
    vt = ir.VectorType(t, lanes)
    mask = (1 << bits) - 1
    block = lanes * ACCUMULATORS  # colors per step of the vector loop
    fn = ir.Function(module, ir.FunctionType(t, [i64, i64]), name=f"exo_gay_xor_{name}")
    x0, count = fn.args
    entry, loop, after, tail, done = (fn.append_basic_block(n) for n in ("entry", "loop", "after", "tail", "done"))

    def const(v):
        return ir.Constant(t, v & mask)

    def vconst(vs):
        return ir.Constant(vt, [ir.Constant(t, v & mask) for v in vs])

    def finalise(b, z, c1, c2, s1, s2, s3):
        z = b.mul(b.xor(z, b.lshr(z, s1)), c1)
        z = b.mul(b.xor(z, b.lshr(z, s2)), c2)
        return z, b.lshr(z, s3)  # the caller folds acc ^ z ^ (z >> s3)

    b = ir.IRBuilder(entry)
    xs = b.add(b.trunc(x0, t) if bits < 64 else x0, const(golden))  # the state of color 0
    undef, i32 = ir.Constant(vt, ir.Undefined), ir.IntType(32)
    splat = b.shuffle_vector(b.insert_element(undef, xs, ir.Constant(i32, 0)), undef,
                             ir.Constant(ir.VectorType(i32, lanes), [0] * lanes))
    starts = [b.add(splat, vconst([(u * lanes + j) * golden for j in range(lanes)])) for u in range(ACCUMULATORS)]
    steps = b.lshr(count, ir.Constant(i64, block.bit_length() - 1))
    b.cbranch(b.icmp_unsigned("!=", steps, ir.Constant(i64, 0)), loop, after)

    b = ir.IRBuilder(loop)
    i = b.phi(i64)
    states = [b.phi(vt) for _ in starts]
    accs = [b.phi(vt) for _ in starts]
    vc = [vconst([v] * lanes) for v in (m1, m2, *shifts, block * golden)]
    new_states, new_accs = [], []
    for s, a in zip(states, accs, strict=True):
        z, zs = finalise(b, s, *vc[:5])
        new_accs.append(b.xor(b.xor(a, z), zs))
        new_states.append(b.add(s, vc[5]))
    i_next = b.add(i, ir.Constant(i64, 1))
    b.cbranch(b.icmp_unsigned("!=", i_next, steps), loop, after)
    i.add_incoming(ir.Constant(i64, 0), entry)
    i.add_incoming(i_next, loop)
    zero = vconst([0] * lanes)
    for phi, start, new in zip(states, starts, new_states, strict=True):
        phi.add_incoming(start, entry)
        phi.add_incoming(new, loop)
    for phi, new in zip(accs, new_accs, strict=True):
        phi.add_incoming(zero, entry)
        phi.add_incoming(new, loop)

    b = ir.IRBuilder(after)
    finals = [b.phi(vt) for _ in new_accs]
    for a, new in zip(finals, new_accs, strict=True):
        a.add_incoming(zero, entry)
        a.add_incoming(new, loop)
    folded = finals[0]
    for a in finals[1:]:
        folded = b.xor(folded, a)
    acc0 = b.extract_element(folded, ir.Constant(ir.IntType(32), 0))
    for j in range(1, lanes):
        acc0 = b.xor(acc0, b.extract_element(folded, ir.Constant(ir.IntType(32), j)))
    done_steps = b.trunc(steps, t) if bits < 64 else steps
    x_tail = b.add(xs, b.mul(done_steps, const(block * golden)))
    rest = b.and_(count, ir.Constant(i64, block - 1))
    b.cbranch(b.icmp_unsigned("!=", rest, ir.Constant(i64, 0)), tail, done)

    b = ir.IRBuilder(tail)
    k, x, acc = b.phi(i64), b.phi(t), b.phi(t)
    z, zs = finalise(b, x, const(m1), const(m2), *(const(s) for s in shifts))
    acc_next = b.xor(b.xor(acc, z), zs)
    k_next = b.add(k, ir.Constant(i64, 1))
    x_next = b.add(x, const(golden))
    b.cbranch(b.icmp_unsigned("!=", k_next, rest), tail, done)
    k.add_incoming(ir.Constant(i64, 0), after)
    k.add_incoming(k_next, tail)
    x.add_incoming(x_tail, after)
    x.add_incoming(x_next, tail)
    acc.add_incoming(acc0, after)
    acc.add_incoming(acc_next, tail)

    b = ir.IRBuilder(done)
    result = b.phi(t)
    result.add_incoming(acc0, after)
    result.add_incoming(acc_next, tail)
    b.ret(result)


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
    return cache_dir() / "kernels" / f"xor-{name}-{key}.o"


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
