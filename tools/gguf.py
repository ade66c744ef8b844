#!/usr/bin/python3
"""GGUF v3 writer and reader (our own code, numpy only).

Layout (all little-endian), as in ../shared/docs/llama-cpp-facts.md section 1.1:
    magic "GGUF" | u32 version (3) | i64 n_tensors | i64 n_kv
    kv pairs:     gguf string key | i32 value type | value
                  (ARRAY: i32 element type | u64 count | elements; no nested arrays)
    tensor infos: gguf string name (< 64 bytes) | u32 n_dims (<= 4) | i64 ne[n_dims] |
                  i32 ggml type | u64 offset (relative to the data blob)
    zero padding to `alignment`, then the data blob: tensor i starts at the sum over the
    earlier tensors of PAD(nbytes, alignment) (consecutive, padded with zero bytes).
    gguf string = u64 byte length + UTF-8 bytes, no terminator.  bool = 1 byte.

Writer API (used by make_model.py and the demo-model trainer, keep it stable):
    w = GGUFWriter(path, alignment=32)
    w.add(key, value, vtype=None)
        type inference when vtype is None: str/bytes -> STRING, bool -> BOOL,
        int -> UINT32 (INT32 if negative, UINT64/INT64 if it does not fit 32 bits),
        float -> FLOAT32, list/tuple/np.ndarray -> ARRAY whose element type is inferred from
        the elements (str -> STRING, bool -> BOOL, int -> INT32, float -> FLOAT32; numpy arrays
        by dtype).  vtype may be a value-type id (GGUF_TYPE_*) or ('array', elem_type).
    w.add_tensor(name, array_or_bytes, ggml_type, shape=None)
        shape is in ggml order (ne0 = innermost/contiguous first).  When omitted it is the
        numpy shape reversed.  A float array is converted/quantised to ggml_type (quants.py);
        bytes/bytearray/memoryview and np.uint8 arrays (whatever ggml_type) are taken as raw,
        already-encoded data and need `shape`.  A callable may be given instead (called once, during write(), with no
        arguments, returning an array or raw bytes or an iterable of such chunks in row
        order); it needs `shape` and lets a writer stream tensors that do not fit in RAM.
    w.write()   writes the file (mode 0600) and closes it.
    Setting alignment != 32 adds general.alignment (UINT32) unless the caller added it.

Reader API:
    kv, tensors = read_gguf(path)
        kv: dict key -> value (str, int, float, bool, or list for arrays); kv.types maps
            key -> value type id, or ('array', elem_type) for arrays (so a copy can keep
            the exact types: w.add(k, kv[k], vtype=kv.types[k])).
        tensors: dict name -> (ggml_type, ne tuple (ne0 first), memoryview of the raw bytes)
        Also: kv.version, kv.alignment, kv.data_offset, kv.tensor_order (names in file order).
    Every length and offset is checked; a malformed file raises GGUFError.
"""
import mmap
import os
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
GGUF_DEFAULT_ALIGNMENT = 32
GGML_MAX_NAME = 64
GGML_MAX_DIMS = 4

# ---- metadata value types (enum gguf_type) ----
GGUF_TYPE_UINT8 = 0
GGUF_TYPE_INT8 = 1
GGUF_TYPE_UINT16 = 2
GGUF_TYPE_INT16 = 3
GGUF_TYPE_UINT32 = 4
GGUF_TYPE_INT32 = 5
GGUF_TYPE_FLOAT32 = 6
GGUF_TYPE_BOOL = 7
GGUF_TYPE_STRING = 8
GGUF_TYPE_ARRAY = 9
GGUF_TYPE_UINT64 = 10
GGUF_TYPE_INT64 = 11
GGUF_TYPE_FLOAT64 = 12

GGUF_TYPE_NAMES = {
    0: "UINT8", 1: "INT8", 2: "UINT16", 3: "INT16", 4: "UINT32", 5: "INT32", 6: "FLOAT32",
    7: "BOOL", 8: "STRING", 9: "ARRAY", 10: "UINT64", 11: "INT64", 12: "FLOAT64",
}

# scalar value types: struct format
_SCALAR_FMT = {
    GGUF_TYPE_UINT8: "<B", GGUF_TYPE_INT8: "<b", GGUF_TYPE_UINT16: "<H", GGUF_TYPE_INT16: "<h",
    GGUF_TYPE_UINT32: "<I", GGUF_TYPE_INT32: "<i", GGUF_TYPE_FLOAT32: "<f",
    GGUF_TYPE_BOOL: "<?", GGUF_TYPE_UINT64: "<Q", GGUF_TYPE_INT64: "<q",
    GGUF_TYPE_FLOAT64: "<d",
}
# numpy dtypes for bulk array reads/writes
_SCALAR_DTYPE = {
    GGUF_TYPE_UINT8: "<u1", GGUF_TYPE_INT8: "<i1", GGUF_TYPE_UINT16: "<u2",
    GGUF_TYPE_INT16: "<i2", GGUF_TYPE_UINT32: "<u4", GGUF_TYPE_INT32: "<i4",
    GGUF_TYPE_FLOAT32: "<f4", GGUF_TYPE_BOOL: "<u1", GGUF_TYPE_UINT64: "<u8",
    GGUF_TYPE_INT64: "<i8", GGUF_TYPE_FLOAT64: "<f8",
}
_INT_RANGE = {
    GGUF_TYPE_UINT8: (0, 2**8 - 1), GGUF_TYPE_INT8: (-2**7, 2**7 - 1),
    GGUF_TYPE_UINT16: (0, 2**16 - 1), GGUF_TYPE_INT16: (-2**15, 2**15 - 1),
    GGUF_TYPE_UINT32: (0, 2**32 - 1), GGUF_TYPE_INT32: (-2**31, 2**31 - 1),
    GGUF_TYPE_UINT64: (0, 2**64 - 1), GGUF_TYPE_INT64: (-2**63, 2**63 - 1),
}

# ---- tensor types (enum ggml_type) ----
GGML_TYPE_F32 = 0
GGML_TYPE_F16 = 1
GGML_TYPE_Q4_0 = 2
GGML_TYPE_Q4_1 = 3
GGML_TYPE_Q5_0 = 6
GGML_TYPE_Q5_1 = 7
GGML_TYPE_Q8_0 = 8
GGML_TYPE_Q8_1 = 9
GGML_TYPE_Q2_K = 10
GGML_TYPE_Q3_K = 11
GGML_TYPE_Q4_K = 12
GGML_TYPE_Q5_K = 13
GGML_TYPE_Q6_K = 14
GGML_TYPE_Q8_K = 15
GGML_TYPE_BF16 = 30

# id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    GGML_TYPE_F32: ("F32", 1, 4),
    GGML_TYPE_F16: ("F16", 1, 2),
    GGML_TYPE_Q4_0: ("Q4_0", 32, 18),
    GGML_TYPE_Q4_1: ("Q4_1", 32, 20),
    GGML_TYPE_Q5_0: ("Q5_0", 32, 22),
    GGML_TYPE_Q5_1: ("Q5_1", 32, 24),
    GGML_TYPE_Q8_0: ("Q8_0", 32, 34),
    GGML_TYPE_Q8_1: ("Q8_1", 32, 36),
    GGML_TYPE_Q2_K: ("Q2_K", 256, 84),
    GGML_TYPE_Q3_K: ("Q3_K", 256, 110),
    GGML_TYPE_Q4_K: ("Q4_K", 256, 144),
    GGML_TYPE_Q5_K: ("Q5_K", 256, 176),
    GGML_TYPE_Q6_K: ("Q6_K", 256, 210),
    GGML_TYPE_Q8_K: ("Q8_K", 256, 292),
    GGML_TYPE_BF16: ("BF16", 1, 2),
}
GGML_TYPE_BY_NAME = {v[0]: k for k, v in GGML_TYPES.items()}


class GGUFError(Exception):
    """A malformed GGUF file or an invalid writer request."""


def type_name(t):
    return GGML_TYPES[t][0] if t in GGML_TYPES else "type%d" % t


def block_info(t):
    """(elements per block, bytes per block) of ggml type t."""
    if t not in GGML_TYPES:
        raise GGUFError("unknown ggml type %d" % t)
    return GGML_TYPES[t][1], GGML_TYPES[t][2]


def row_size(t, n):
    """Bytes of a row of n elements of type t (n must be a multiple of the block size)."""
    blck, nb = block_info(t)
    if n % blck:
        raise GGUFError("%d elements is not a multiple of %s's block size %d"
                        % (n, type_name(t), blck))
    return n // blck * nb


def tensor_nbytes(t, ne):
    n_rows = 1
    for d in ne[1:]:
        n_rows *= d
    return row_size(t, ne[0]) * n_rows


def _pad(n, a):
    return (n + a - 1) // a * a


# ================================ writer ================================

def _encode_str(s):
    if isinstance(s, str):
        b = s.encode("utf-8", "surrogateescape")
    else:
        b = bytes(s)
    return struct.pack("<Q", len(b)) + b


def _infer_scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return GGUF_TYPE_BOOL
    if isinstance(v, (str, bytes)):
        return GGUF_TYPE_STRING
    if isinstance(v, (int, np.integer)):
        v = int(v)
        if 0 <= v <= 2**32 - 1:
            return GGUF_TYPE_UINT32
        if -2**31 <= v < 0:
            return GGUF_TYPE_INT32
        if v > 0 and v <= 2**64 - 1:
            return GGUF_TYPE_UINT64
        return GGUF_TYPE_INT64
    if isinstance(v, (float, np.floating)):
        return GGUF_TYPE_FLOAT32
    raise GGUFError("cannot infer a GGUF type for %r" % (type(v),))


_DTYPE_TO_GGUF = {
    np.dtype("uint8"): GGUF_TYPE_UINT8, np.dtype("int8"): GGUF_TYPE_INT8,
    np.dtype("uint16"): GGUF_TYPE_UINT16, np.dtype("int16"): GGUF_TYPE_INT16,
    np.dtype("uint32"): GGUF_TYPE_UINT32, np.dtype("int32"): GGUF_TYPE_INT32,
    np.dtype("uint64"): GGUF_TYPE_UINT64, np.dtype("int64"): GGUF_TYPE_INT32,
    np.dtype("float32"): GGUF_TYPE_FLOAT32, np.dtype("float64"): GGUF_TYPE_FLOAT32,
    np.dtype("bool"): GGUF_TYPE_BOOL,
}


def _infer_elem(values):
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "US":
            return GGUF_TYPE_STRING
        if values.dtype not in _DTYPE_TO_GGUF:
            raise GGUFError("cannot store numpy dtype %s in a GGUF array" % values.dtype)
        return _DTYPE_TO_GGUF[values.dtype]
    if len(values) == 0:
        return GGUF_TYPE_INT32
    first = values[0]
    if isinstance(first, (bool, np.bool_)):
        return GGUF_TYPE_BOOL
    if isinstance(first, (str, bytes)):
        return GGUF_TYPE_STRING
    if isinstance(first, (int, np.integer)):
        # floats mixed in later make it FLOAT32
        if any(isinstance(x, (float, np.floating)) for x in values):
            return GGUF_TYPE_FLOAT32
        return GGUF_TYPE_INT32
    if isinstance(first, (float, np.floating)):
        return GGUF_TYPE_FLOAT32
    raise GGUFError("cannot infer a GGUF array element type for %r" % (type(first),))


def _encode_scalar(vt, v):
    if vt == GGUF_TYPE_STRING:
        if not isinstance(v, (str, bytes, bytearray)):
            raise GGUFError("STRING value must be str or bytes")
        return _encode_str(v)
    if vt == GGUF_TYPE_BOOL:
        return struct.pack("<B", 1 if v else 0)
    if vt in _INT_RANGE:
        if isinstance(v, (float, np.floating)) and float(v) != int(v):
            raise GGUFError("non-integer value %r for integer type %s" % (v, GGUF_TYPE_NAMES[vt]))
        v = int(v)
        lo, hi = _INT_RANGE[vt]
        if not lo <= v <= hi:
            raise GGUFError("value %d out of range for %s" % (v, GGUF_TYPE_NAMES[vt]))
        return struct.pack(_SCALAR_FMT[vt], v)
    if vt in (GGUF_TYPE_FLOAT32, GGUF_TYPE_FLOAT64):
        return struct.pack(_SCALAR_FMT[vt], float(v))
    raise GGUFError("bad value type %r" % (vt,))


def encode_value(value, vtype=None):
    """Bytes of (i32 type, value) for one KV value.  Returns (vtype, bytes)."""
    if vtype is None:
        if isinstance(value, (list, tuple, np.ndarray)):
            vtype = ("array", _infer_elem(value))
        else:
            vtype = _infer_scalar(value)
    if isinstance(vtype, tuple):
        if len(vtype) != 2 or vtype[0] != "array":
            raise GGUFError("array vtype must be ('array', elem_type)")
        et = vtype[1]
        if et is None:
            et = _infer_elem(value)
            vtype = ("array", et)
        if et == GGUF_TYPE_ARRAY:
            raise GGUFError("nested arrays are not allowed in GGUF")
        if et not in GGUF_TYPE_NAMES:
            raise GGUFError("bad array element type %r" % (et,))
        head = struct.pack("<iiQ", GGUF_TYPE_ARRAY, et, len(value))
        if et == GGUF_TYPE_STRING:
            return vtype, head + b"".join(_encode_str(s) for s in value)
        if et == GGUF_TYPE_BOOL:
            arr = np.asarray(value, dtype=bool).astype("<u1")
        else:
            arr = np.asarray(value)
            if et in _INT_RANGE:
                if arr.size and arr.dtype.kind == "f":
                    if not np.all(arr == np.round(arr)):
                        raise GGUFError("non-integer values in integer array")
                if arr.size:
                    lo, hi = _INT_RANGE[et]
                    a_min, a_max = int(arr.min()), int(arr.max())
                    if a_min < lo or a_max > hi:
                        raise GGUFError("array values out of range for %s" % GGUF_TYPE_NAMES[et])
            arr = arr.astype(_SCALAR_DTYPE[et])
        return vtype, head + arr.tobytes()
    if vtype == GGUF_TYPE_ARRAY:
        raise GGUFError("give an array's type as ('array', elem_type)")
    return vtype, struct.pack("<i", vtype) + _encode_scalar(vtype, value)


class GGUFWriter:
    """Collects metadata and tensors, then write() produces the file in one pass.

    Tensor data given as arrays/bytes is encoded at add_tensor() time (so only the encoded
    bytes are kept); a callable is only invoked during write(), so streaming writers hold one
    tensor (or one chunk) at a time."""

    def __init__(self, path, alignment=GGUF_DEFAULT_ALIGNMENT):
        if alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError("alignment must be a non-zero power of two")
        self.path = path
        self.alignment = alignment
        self.kv = {}        # key -> (vtype, encoded bytes incl. type)
        self.tensors = []   # (name, ggml_type, ne, nbytes, data or callable)
        self._names = set()

    def add(self, key, value, vtype=None):
        if not isinstance(key, str) or not key:
            raise GGUFError("key must be a non-empty string")
        if key in self.kv:
            raise GGUFError("duplicate key %s" % key)
        if key == "general.alignment":
            if vtype not in (None, GGUF_TYPE_UINT32) or isinstance(value, bool) or int(value) != self.alignment:
                raise GGUFError("general.alignment must be UINT32 and equal the writer's alignment")
            vtype = GGUF_TYPE_UINT32
        self.kv[key] = encode_value(value, vtype)

    def add_tensor(self, name, array_or_bytes, ggml_type, shape=None):
        if isinstance(ggml_type, str):
            ggml_type = GGML_TYPE_BY_NAME[ggml_type]
        if ggml_type not in GGML_TYPES:
            raise GGUFError("unknown ggml type %r" % (ggml_type,))
        nb = len(name.encode("utf-8"))
        if nb >= GGML_MAX_NAME:
            raise GGUFError("tensor name too long (%d bytes, max %d): %s" % (nb, GGML_MAX_NAME - 1, name))
        if name in self._names:
            raise GGUFError("duplicate tensor %s" % name)
        data = array_or_bytes
        if callable(data):
            if shape is None:
                raise GGUFError("a callable tensor source needs shape")
        elif isinstance(data, (bytes, bytearray, memoryview)) or (
                isinstance(data, np.ndarray) and data.dtype == np.uint8):
            if shape is None:
                raise GGUFError("raw tensor bytes need shape")
            data = bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
        else:
            arr = np.asarray(data)
            if shape is None:
                shape = tuple(reversed(arr.shape)) if arr.ndim else (1,)
            data = _encode_tensor(arr, ggml_type, shape)
        ne = tuple(int(d) for d in shape)
        if not 1 <= len(ne) <= GGML_MAX_DIMS or any(d < 0 for d in ne):
            raise GGUFError("bad shape %r for %s" % (shape, name))
        nbytes = tensor_nbytes(ggml_type, ne)
        if isinstance(data, bytes) and len(data) != nbytes:
            raise GGUFError("tensor %s: %d bytes given, %s %r needs %d"
                            % (name, len(data), type_name(ggml_type), ne, nbytes))
        self._names.add(name)
        self.tensors.append((name, ggml_type, ne, nbytes, data))

    def write(self):
        if self.alignment != GGUF_DEFAULT_ALIGNMENT and "general.alignment" not in self.kv:
            self.add("general.alignment", self.alignment, GGUF_TYPE_UINT32)
        a = self.alignment
        head = bytearray()
        head += GGUF_MAGIC + struct.pack("<Iqq", GGUF_VERSION, len(self.tensors), len(self.kv))
        for key, (_, enc) in self.kv.items():
            head += _encode_str(key) + enc
        off = 0
        for name, t, ne, nbytes, _ in self.tensors:
            head += _encode_str(name) + struct.pack("<I", len(ne))
            head += struct.pack("<%dq" % len(ne), *ne) + struct.pack("<iQ", t, off)
            off += _pad(nbytes, a)
        if self.tensors:   # a tensor-less file (a vocab GGUF) ends right after the header
            head += b"\0" * (_pad(len(head), a) - len(head))
        tmp = self.path + ".tmp%d" % os.getpid()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head)
                for name, t, ne, nbytes, data in self.tensors:
                    written = _write_tensor_data(f, name, t, ne, data)
                    if written != nbytes:
                        raise GGUFError("tensor %s: source produced %d bytes, expected %d"
                                        % (name, written, nbytes))
                    f.write(b"\0" * (_pad(nbytes, a) - nbytes))
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.tensors = []   # drop encoded data


def _quants():
    """quants.py lives next to this file; import it however this module was imported."""
    try:
        from . import quants            # tools imported as a package
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        if here not in sys.path:
            sys.path.insert(0, here)
        import quants
    return quants


def _encode_tensor(arr, t, ne):
    """Encode a float (or already-typed) array as ggml type t with ggml shape ne."""
    quantize = _quants().quantize
    n = 1
    for d in ne:
        n *= int(d)
    if arr.size != n:
        raise GGUFError("array has %d elements, shape %r needs %d" % (arr.size, tuple(ne), n))
    return quantize(arr.reshape(-1), t).tobytes()


def _write_tensor_data(f, name, t, ne, data):
    if isinstance(data, bytes):
        f.write(data)
        return len(data)
    src = data()
    if isinstance(src, (bytes, bytearray, memoryview, np.ndarray)):
        src = [src]
    total = 0
    for chunk in src:
        if isinstance(chunk, np.ndarray) and chunk.dtype != np.uint8:
            chunk = _quants().quantize(chunk.reshape(-1), t)
        mv = memoryview(chunk).cast("B") if not isinstance(chunk, bytes) else chunk
        f.write(mv)
        total += len(mv)
    return total


# ================================ reader ================================

class KVDict(dict):
    """dict key -> value with .types (key -> value type or ('array', elem_type)) and file info."""
    types = None
    version = None
    alignment = GGUF_DEFAULT_ALIGNMENT
    data_offset = None
    tensor_order = None


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0
        self.size = len(buf)

    def need(self, n, what):
        if n < 0 or self.pos + n > self.size:
            raise GGUFError("truncated file reading %s at offset %d (need %d bytes, %d left)"
                            % (what, self.pos, n, self.size - self.pos))

    def unpack(self, fmt, what):
        n = struct.calcsize(fmt)
        self.need(n, what)
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v if len(v) > 1 else v[0]

    def string(self, what):
        n = self.unpack("<Q", what + " length")
        self.need(n, what)
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b.decode("utf-8", "surrogateescape")


def _read_value(c, vt, key):
    if vt == GGUF_TYPE_STRING:
        return c.string("value of " + key)
    if vt in _SCALAR_FMT:
        v = c.unpack(_SCALAR_FMT[vt], "value of " + key)
        if vt == GGUF_TYPE_BOOL:
            v = bool(v)
        return v
    raise GGUFError("key %s: bad value type %d" % (key, vt))


def read_gguf(path):
    """Parse a GGUF file.  Returns (kv, tensors); see the module docstring."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise GGUFError("%s: empty file" % path)
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    mv = memoryview(buf)
    c = _Cursor(mv)
    c.need(4, "magic")
    if bytes(mv[0:4]) != GGUF_MAGIC:
        raise GGUFError("%s: bad magic %r" % (path, bytes(mv[0:4])))
    c.pos = 4
    version = c.unpack("<I", "version")
    if version not in (2, 3):
        raise GGUFError("unsupported GGUF version %d" % version)
    n_tensors, n_kv = c.unpack("<qq", "counts")
    if n_tensors < 0 or n_kv < 0:
        raise GGUFError("negative tensor or kv count")
    # each kv needs at least 8+4+1 bytes and each tensor info at least 8+4+4+8 bytes
    if n_kv * 13 > size or n_tensors * 24 > size:
        raise GGUFError("counts (%d kv, %d tensors) too large for a %d-byte file" % (n_kv, n_tensors, size))
    kv = KVDict()
    kv.types = {}
    kv.version = version
    for _ in range(n_kv):
        key = c.string("key")
        if key in kv:
            raise GGUFError("duplicate key %s" % key)
        vt = c.unpack("<i", "type of " + key)
        if vt == GGUF_TYPE_ARRAY:
            et, n = c.unpack("<iQ", "array header of " + key)
            if et == GGUF_TYPE_ARRAY:
                raise GGUFError("key %s: nested array" % key)
            if et == GGUF_TYPE_STRING:
                c.need(8 * n, "array " + key)   # each string is at least 8 bytes
                val = [c.string("element of " + key) for _ in range(n)]
            elif et in _SCALAR_DTYPE:
                dt = np.dtype(_SCALAR_DTYPE[et])
                c.need(n * dt.itemsize, "array " + key)
                arr = np.frombuffer(mv, dtype=dt, count=n, offset=c.pos)
                c.pos += n * dt.itemsize
                val = arr.astype(bool).tolist() if et == GGUF_TYPE_BOOL else arr.tolist()
            else:
                raise GGUFError("key %s: bad array element type %d" % (key, et))
            kv[key] = val
            kv.types[key] = ("array", et)
        else:
            kv[key] = _read_value(c, vt, key)
            kv.types[key] = vt
    alignment = GGUF_DEFAULT_ALIGNMENT
    if "general.alignment" in kv:
        alignment = kv["general.alignment"]
        if kv.types["general.alignment"] != GGUF_TYPE_UINT32 or alignment == 0 or alignment & (alignment - 1):
            raise GGUFError("general.alignment must be a UINT32 power of two")
    kv.alignment = alignment
    infos = []
    names = set()
    for _ in range(n_tensors):
        name = c.string("tensor name")
        if len(name.encode("utf-8", "surrogateescape")) >= GGML_MAX_NAME:
            raise GGUFError("tensor name too long: %r" % name[:80])
        if name in names:
            raise GGUFError("duplicate tensor %s" % name)
        names.add(name)
        n_dims = c.unpack("<I", "n_dims of " + name)
        if n_dims > GGML_MAX_DIMS:
            raise GGUFError("tensor %s: %d dims (max %d)" % (name, n_dims, GGML_MAX_DIMS))
        ne = c.unpack("<%dq" % n_dims, "ne of " + name) if n_dims else ()
        if n_dims == 1:
            ne = (ne,)
        ne = tuple(ne)
        if any(d < 0 for d in ne):
            raise GGUFError("tensor %s: negative dimension" % name)
        t, off = c.unpack("<iQ", "type/offset of " + name)
        if t not in GGML_TYPES:
            raise GGUFError("tensor %s: unknown type %d" % (name, t))
        blck = GGML_TYPES[t][1]
        if ne and ne[0] % blck:
            raise GGUFError("tensor %s: ne0=%d not a multiple of %s block %d" % (name, ne[0], type_name(t), blck))
        n = 1
        for d in ne:
            n *= d
            if n > 2**62:
                raise GGUFError("tensor %s: element count overflows" % name)
        infos.append((name, t, ne if ne else (1,), off))
    data_offset = _pad(c.pos, alignment)
    kv.data_offset = data_offset
    kv.tensor_order = [i[0] for i in infos]
    tensors = {}
    expect = 0
    for name, t, ne, off in infos:
        if off != expect:
            raise GGUFError("tensor '%s' has offset %d, expected %d" % (name, off, expect))
        nbytes = tensor_nbytes(t, ne)
        start = data_offset + off
        if start + nbytes > size:
            raise GGUFError("tensor %s: data [%d, %d) beyond end of file (%d)" % (name, start, start + nbytes, size))
        tensors[name] = (t, ne, mv[start:start + nbytes])
        expect += _pad(nbytes, alignment)
    return kv, tensors


def _main(argv):
    """gguf.py FILE: print the metadata and tensor table."""
    import sys
    if len(argv) != 2:
        print("usage: gguf.py FILE.gguf", file=sys.stderr)
        return 2
    kv, tensors = read_gguf(argv[1])
    print("version %d, %d kv, %d tensors, alignment %d, data offset %d"
          % (kv.version, len(kv), len(tensors), kv.alignment, kv.data_offset))
    for k, v in kv.items():
        vt = kv.types[k]
        if isinstance(vt, tuple):
            print("  %-45s [%s x %d] %s" % (k, GGUF_TYPE_NAMES[vt[1]], len(v), repr(v[:5])[:80]))
        else:
            print("  %-45s %-7s %s" % (k, GGUF_TYPE_NAMES[vt], repr(v)[:80]))
    for name in kv.tensor_order:
        t, ne, data = tensors[name]
        print("  %-32s %-5s %-24s %d bytes" % (name, type_name(t), ne, len(data)))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv))
