"""Which of several equal elements PyTorch's CPU selections return, reproduced.

``topk``, ``kthvalue``, ``mode`` and ``sort(stable=False)`` are free, by their
documentation, to return any of equal elements; PyTorch's CPU kernels pick one through a
deterministic algorithm: ``kthvalue`` through ATen's own quickselect
(``quick_select_template``), ``topk`` through libstdc++'s ``std::nth_element`` +
``std::sort`` (or ``std::partial_sort`` when ``64 * k <= n``), ``mode`` and the unstable
``sort`` through ``std::sort`` (introsort). kiln runs the same algorithms, step for step,
on a row's *ranks* (equal values, and all NaNs, share a rank; NaN ranks above every
number), so that an index kiln returns is the one PyTorch returns.

They run in Python, one row at a time, and only where the answer depends on them (a row
with equal values where it matters); NumPy's stable order serves every other row.

>>> kthvalue_index([2, 1, 2, 1], 2)  # torch.kthvalue(torch.tensor([2, 1, 2, 1]), 2).indices
3
"""

from __future__ import annotations

import numpy as np


def ranks(rows: np.ndarray) -> np.ndarray:
    """Each element's rank among the values of the array (int64, same shape): equal values
    (``-0.0`` and ``0.0`` too) share one; NaN, all of them alike, ranks above every number."""
    flat = rows.reshape(-1)
    if flat.dtype.kind == "b":
        flat = flat.astype(np.int8)
    if flat.dtype.kind in "fc":
        nan = np.isnan(flat)
        flat = np.where(nan, 0, flat) + 0.0  # + 0.0: -0.0 becomes 0.0
        _, inverse = np.unique(flat, return_inverse=True)
        inverse = np.where(nan, inverse.max(initial=0) + 1, inverse)
    else:
        _, inverse = np.unique(flat, return_inverse=True)
    return inverse.reshape(rows.shape).astype(np.int64)


class _Row:
    """Keys (ordered by ``<``) and the original indices, swapped together: the pairs that
    PyTorch's kernels sort."""

    __slots__ = ("k", "v")

    def __init__(self, keys):
        self.k = list(keys)
        self.v = list(range(len(self.k)))

    def swap(self, i, j):
        k, v = self.k, self.v
        k[i], k[j] = k[j], k[i]
        v[i], v[j] = v[j], v[i]

    # --- libstdc++'s heap (bits/stl_heap.h)
    def adjust_heap(self, first, hole, length, key, val):
        k, v = self.k, self.v
        top = hole
        child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if k[first + child] < k[first + child - 1]:
                child -= 1
            k[first + hole], v[first + hole] = k[first + child], v[first + child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            k[first + hole], v[first + hole] = k[first + child - 1], v[first + child - 1]
            hole = child - 1
        parent = (hole - 1) // 2
        while hole > top and k[first + parent] < key:
            k[first + hole], v[first + hole] = k[first + parent], v[first + parent]
            hole = parent
            parent = (hole - 1) // 2
        k[first + hole], v[first + hole] = key, val

    def make_heap(self, first, last):
        n = last - first
        if n < 2:
            return
        parent = (n - 2) // 2
        while True:
            self.adjust_heap(first, parent, n, self.k[first + parent], self.v[first + parent])
            if parent == 0:
                return
            parent -= 1

    def pop_heap(self, first, last, result):
        k, v = self.k, self.v
        key, val = k[result], v[result]
        k[result], v[result] = k[first], v[first]
        self.adjust_heap(first, 0, last - first, key, val)

    def heap_select(self, first, middle, last):
        self.make_heap(first, middle)
        k = self.k
        for i in range(middle, last):
            if k[i] < k[first]:
                self.pop_heap(first, middle, i)

    def partial_sort(self, first, middle, last):
        self.heap_select(first, middle, last)
        while middle - first > 1:  # std::__sort_heap
            middle -= 1
            self.pop_heap(first, middle, middle)

    # --- libstdc++'s introsort and introselect (bits/stl_algo.h)
    def move_median_to_first(self, result, a, b, c):
        k = self.k
        if k[a] < k[b]:
            if k[b] < k[c]:
                self.swap(result, b)
            elif k[a] < k[c]:
                self.swap(result, c)
            else:
                self.swap(result, a)
        elif k[a] < k[c]:
            self.swap(result, a)
        elif k[b] < k[c]:
            self.swap(result, c)
        else:
            self.swap(result, b)

    def partition_pivot(self, first, last):
        mid = first + (last - first) // 2
        self.move_median_to_first(first, first + 1, mid, last - 1)
        k, pivot = self.k, first
        first += 1
        while True:
            while k[first] < k[pivot]:
                first += 1
            last -= 1
            while k[pivot] < k[last]:
                last -= 1
            if not first < last:
                return first
            self.swap(first, last)
            first += 1

    def linear_insert(self, last):
        k, v = self.k, self.v
        key, val = k[last], v[last]
        prev = last - 1
        while key < k[prev]:
            k[last], v[last] = k[prev], v[prev]
            last = prev
            prev -= 1
        k[last], v[last] = key, val

    def insertion_sort(self, first, last):
        k, v = self.k, self.v
        for i in range(first + 1, last):
            if k[i] < k[first]:
                key, val = k[i], v[i]
                k[first + 1 : i + 1] = k[first:i]
                v[first + 1 : i + 1] = v[first:i]
                k[first], v[first] = key, val
            else:
                self.linear_insert(i)

    def sort(self, first, last):
        """``std::sort``"""
        if last - first < 2:
            return
        self.introsort_loop(first, last, 2 * ((last - first).bit_length() - 1))
        if last - first > 16:
            self.insertion_sort(first, first + 16)
            for i in range(first + 16, last):
                self.linear_insert(i)
        else:
            self.insertion_sort(first, last)

    def introsort_loop(self, first, last, depth):
        while last - first > 16:
            if depth == 0:
                self.partial_sort(first, last, last)
                return
            depth -= 1
            cut = self.partition_pivot(first, last)
            self.introsort_loop(cut, last, depth)
            last = cut

    def nth_element(self, first, nth, last):
        """``std::nth_element``"""
        if first == last or nth == last:
            return
        depth = 2 * ((last - first).bit_length() - 1)
        while last - first > 3:
            if depth == 0:
                self.heap_select(first, nth + 1, last)
                self.swap(first, nth)
                return
            depth -= 1
            cut = self.partition_pivot(first, last)
            if cut <= nth:
                first = cut
            else:
                last = cut
        self.insertion_sort(first, last)


def kthvalue_index(keys, k: int) -> int:
    """The index ATen's ``quick_select_template`` leaves at position ``k - 1`` (0-based
    ``k - 1`` smallest) of a row of ranks."""
    row = _Row(keys)
    a, swap = row.k, row.swap
    k -= 1
    lo, hi = 0, len(a) - 1
    while True:
        if hi <= lo:
            break
        if hi == lo + 1:
            if a[lo] > a[hi]:
                swap(lo, hi)
            break
        mid = lo + (hi - lo) // 2
        swap(mid, lo + 1)
        if a[lo + 1] > a[hi]:
            swap(lo + 1, hi)
        if a[lo] > a[hi]:
            swap(lo, hi)
        if a[lo + 1] > a[lo]:
            swap(lo + 1, lo)
        i, j = lo + 1, hi
        pivot = a[lo]
        while True:
            i += 1
            while pivot > a[i]:
                i += 1
            j -= 1
            while a[j] > pivot:
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(lo, j)
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1
    return row.v[k]


def topk_indices(keys, k: int, largest: bool, sorted: bool) -> list:  # noqa: A002
    """The indices ATen's ``topk_impl_loop`` returns for a row of ranks."""
    n = len(keys)
    row = _Row([-key for key in keys] if largest else keys)  # its comparator as ``<``
    if k == 0:
        return []
    if k * 64 <= n:
        row.partial_sort(0, k, n)
    else:
        row.nth_element(0, k - 1, n)
        if sorted:
            row.sort(0, k - 1)
    return row.v[:k]


def sort_indices(keys, descending: bool) -> list:
    """The permutation ``std::sort`` gives a row of ranks (PyTorch's unstable sort)."""
    row = _Row([-key for key in keys] if descending else keys)
    row.sort(0, len(keys))
    return row.v


def mode_index(keys) -> int:
    """The index ATen's CPU ``mode`` returns: after ``std::sort`` of the row, the last
    position of the first of the most frequent values."""
    row = _Row(keys)
    row.sort(0, len(keys))
    a = row.k
    best_count, best, count = 0, 0, 0
    for i in range(len(a)):
        count += 1
        if i == len(a) - 1 or a[i] != a[i + 1]:
            if count > best_count:
                best_count, best = count, row.v[i]
            count = 0
    return best
