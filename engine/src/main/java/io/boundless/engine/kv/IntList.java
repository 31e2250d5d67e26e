package io.boundless.engine.kv;

import java.util.Arrays;

/** A growable list of ints (block tables, token lists) without boxing. */
public final class IntList {
    private int[] a;
    private int n;

    public IntList() {
        this(8);
    }

    public IntList(int capacity) {
        a = new int[Math.max(1, capacity)];
    }

    public static IntList of(int[] values) {
        IntList l = new IntList(values.length + 8);
        l.addAll(values, 0, values.length);
        return l;
    }

    public void add(int v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, a.length * 2);
        }
        a[n++] = v;
    }

    public void addAll(int[] v, int from, int to) {
        int len = to - from;
        if (n + len > a.length) {
            a = Arrays.copyOf(a, Math.max(a.length * 2, n + len));
        }
        System.arraycopy(v, from, a, n, len);
        n += len;
    }

    public int get(int i) {
        if (i >= n) {
            throw new IndexOutOfBoundsException(i + " of " + n);
        }
        return a[i];
    }

    public void set(int i, int v) {
        if (i >= n) {
            throw new IndexOutOfBoundsException(i + " of " + n);
        }
        a[i] = v;
    }

    public int size() {
        return n;
    }

    public void clear() {
        n = 0;
    }

    /** The backing array (valid up to size()); do not keep it across additions. */
    public int[] array() {
        return a;
    }

    public int[] toArray() {
        return Arrays.copyOf(a, n);
    }

    public IntList copy() {
        IntList c = new IntList(n + 8);
        c.addAll(a, 0, n);
        return c;
    }
}
