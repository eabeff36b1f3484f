"""Octodiff's rolling checksums for every window of a run of data at once, in numpy.

Both variants are Adler-32 shaped. For a window z[0..n-1] let s = sum(z) and w = sum((n - k) * z[k]); then
a = 1 + s and b = n + w, reduced mod 2**16 ("Adler32", Octodiff's default) or mod 65521 ("Adler32V2",
which equals zlib.adler32). The checksum is b << 16 | a.
"""

import numpy as np

V1 = "Adler32"
V2 = "Adler32V2"
V1_MASK = 0xFFFF
V2_MODULUS = 65521


class WindowKeys:
    """Search keys for every window of one length in a run of data, without a per-byte Python loop.

    With prefix sums S[k] = z[0] + ... + z[k-1] and Q[k] = S[0] + ... + S[k], the window starting at i has
    s = S[i+n] - S[i] and w = Q[i+n] - Q[i] - n * S[i]. Differences of wrapping prefix sums are exact as
    long as the true difference fits the integer type, so uint32 serves "Adler32" (wanted mod 2**16
    anyway; its constant 1 and n are folded into the signature's keys, see keys_for_checksums) and
    "Adler32V2" windows up to 5,803 bytes; longer V2 windows work in uint64. Scratch arrays are allocated
    once for the largest run and reused: keys returned by compute() are only valid until the next call.
    """

    def __init__(self, algorithm: str, window: int, max_count: int) -> None:
        self.algorithm = algorithm
        self.window = window
        largest_weighted_sum = window * (window + 1) // 2 * 255 + window
        wide = np.uint32 if algorithm == V1 or largest_weighted_sum < 1 << 32 else np.uint64
        self._prefix = np.zeros(max_count + window, dtype=wide)
        self._prefix_of_prefix = np.empty(max_count + window, dtype=wide)
        self._sums = np.empty(max_count, dtype=wide)
        self._weighted = np.empty(max_count, dtype=wide)
        self._scratch = np.empty(max_count, dtype=wide)
        self._keys = np.empty(max_count, dtype=np.uint32)

    def keys_for_checksums(self, checksums: np.ndarray) -> np.ndarray:
        """Signature checksums (uint32) mapped into the space compute() returns keys in."""
        checksums = checksums.astype(np.uint32)
        if self.algorithm != V1:
            return checksums
        a_minus_one = (checksums - np.uint32(1)) & np.uint32(V1_MASK)
        b_minus_n = ((checksums >> np.uint32(16)) - np.uint32(self.window)) & np.uint32(V1_MASK)
        return (b_minus_n << np.uint32(16)) | a_minus_one

    def compute(self, data: np.ndarray, start: int, count: int) -> np.ndarray:
        """Keys (uint32) for the count windows starting at data[start], data[start + 1], ..."""
        n = self.window
        z = data[start : start + count + n - 1]
        prefix = self._prefix[: count + n]
        prefix_of_prefix = self._prefix_of_prefix[: count + n]
        sums = self._sums[:count]
        weighted = self._weighted[:count]
        scratch = self._scratch[:count]
        keys = self._keys[:count]
        # ndarray methods rather than np.cumsum: the module-level wrappers cost microseconds per call.
        z.cumsum(dtype=prefix.dtype, out=prefix[1:])
        prefix.cumsum(out=prefix_of_prefix)
        np.subtract(prefix[n:], prefix[:count], out=sums)
        np.subtract(prefix_of_prefix[n:], prefix_of_prefix[:count], out=weighted)
        np.multiply(prefix[:count], n, out=scratch)
        np.subtract(weighted, scratch, out=weighted)
        if self.algorithm == V1:
            np.left_shift(weighted, 16, out=keys)
            np.bitwise_and(sums, V1_MASK, out=sums)
            np.bitwise_or(keys, sums, out=keys)
            return keys
        np.add(sums, 1, out=sums)
        self._reduce(sums, scratch)
        np.add(weighted, n, out=weighted)
        self._reduce(weighted, scratch)
        np.left_shift(weighted, 16, out=weighted)
        np.bitwise_or(weighted, sums, out=weighted)
        np.copyto(keys, weighted, casting="unsafe")
        return keys

    @staticmethod
    def _reduce(values: np.ndarray, scratch: np.ndarray) -> None:
        """values %= 65521, spelled with floor division, which numpy does many times faster by a constant."""
        np.floor_divide(values, V2_MODULUS, out=scratch)
        np.multiply(scratch, V2_MODULUS, out=scratch)
        np.subtract(values, scratch, out=values)
