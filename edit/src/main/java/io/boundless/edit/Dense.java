package io.boundless.edit;

/**
 * The float64 linear algebra the editing methods need, on row-major square or rectangular arrays: Cholesky
 * solves (symmetric positive definite systems: ROME's C⁻¹k, MEMIT's λC + KKᵀ), LU with partial pivoting (AlphaEdit's
 * P·M + αI is not symmetric), and the symmetric eigendecomposition (cyclic Jacobi) for AlphaEdit's null space.
 * Sizes are an MLP's intermediate width (hundreds to a few thousand); everything is O(n³) and single-threaded.
 */
public final class Dense {
    private Dense() {}

    /** The lower Cholesky factor of the n × n symmetric positive definite a (a is not changed). */
    public static double[] cholesky(double[] a, int n) {
        double[] l = new double[n * n];
        for (int j = 0; j < n; j++) {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) {
                d -= l[j * n + k] * l[j * n + k];
            }
            if (!(d > 0)) {
                throw new ArithmeticException("the matrix is not positive definite (pivot " + j + " is " + d
                        + "): the covariance statistics need more tokens than the MLP has dimensions, or a larger weight");
            }
            double ljj = Math.sqrt(d);
            l[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++) {
                double s = a[i * n + j];
                int io = i * n;
                int jo = j * n;
                for (int k = 0; k < j; k++) {
                    s -= l[io + k] * l[jo + k];
                }
                l[io + j] = s / ljj;
            }
        }
        return l;
    }

    /** Solves (L Lᵀ) X = B for X, B being n × m (columns are right-hand sides); returns X. */
    public static double[] choleskySolve(double[] l, int n, double[] b, int m) {
        double[] x = b.clone();
        for (int c = 0; c < m; c++) {
            for (int i = 0; i < n; i++) {  // L y = b
                double s = x[i * m + c];
                for (int k = 0; k < i; k++) {
                    s -= l[i * n + k] * x[k * m + c];
                }
                x[i * m + c] = s / l[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--) {  // Lᵀ x = y
                double s = x[i * m + c];
                for (int k = i + 1; k < n; k++) {
                    s -= l[k * n + i] * x[k * m + c];
                }
                x[i * m + c] = s / l[i * n + i];
            }
        }
        return x;
    }

    /** Solves A X = B (A n × n, any invertible; B n × m) by LU with partial pivoting; A and B are not changed. */
    public static double[] solve(double[] a, int n, double[] b, int m) {
        double[] lu = a.clone();
        double[] x = b.clone();
        for (int k = 0; k < n; k++) {
            int p = k;
            double best = Math.abs(lu[k * n + k]);
            for (int i = k + 1; i < n; i++) {
                double v = Math.abs(lu[i * n + k]);
                if (v > best) {
                    best = v;
                    p = i;
                }
            }
            if (best == 0) {
                throw new ArithmeticException("the system is singular (column " + k + ")");
            }
            if (p != k) {
                swapRows(lu, n, p, k);
                swapRows(x, m, p, k);
            }
            double pivot = lu[k * n + k];
            for (int i = k + 1; i < n; i++) {
                double f = lu[i * n + k] / pivot;
                if (f == 0) {
                    continue;
                }
                lu[i * n + k] = f;
                for (int j = k + 1; j < n; j++) {
                    lu[i * n + j] -= f * lu[k * n + j];
                }
                for (int j = 0; j < m; j++) {
                    x[i * m + j] -= f * x[k * m + j];
                }
            }
        }
        for (int i = n - 1; i >= 0; i--) {
            for (int j = 0; j < m; j++) {
                double s = x[i * m + j];
                for (int k = i + 1; k < n; k++) {
                    s -= lu[i * n + k] * x[k * m + j];
                }
                x[i * m + j] = s / lu[i * n + i];
            }
        }
        return x;
    }

    private static void swapRows(double[] a, int cols, int i, int j) {
        for (int c = 0; c < cols; c++) {
            double t = a[i * cols + c];
            a[i * cols + c] = a[j * cols + c];
            a[j * cols + c] = t;
        }
    }

    /** Eigenvalues (ascending) and eigenvectors (column i of vectors, n × n row-major) of a symmetric matrix. */
    public record Eigen(double[] values, double[] vectors, int n) {}

    /**
     * The eigendecomposition of the symmetric n × n a by cyclic Jacobi rotations, to full float64 precision
     * (a is not changed). Sweeps until the off-diagonal mass is below 1e-22 of the total.
     */
    public static Eigen symmetricEigen(double[] a, int n) {
        double[] m = a.clone();
        double[] v = new double[n * n];
        for (int i = 0; i < n; i++) {
            v[i * n + i] = 1;
        }
        double total = 0;
        for (double x : m) {
            total += x * x;
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int i = 0; i < n; i++) {
                for (int j = i + 1; j < n; j++) {
                    off += m[i * n + j] * m[i * n + j];
                }
            }
            if (off <= 1e-22 * total || off == 0) {
                break;
            }
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    double apq = m[p * n + q];
                    if (Math.abs(apq) < 1e-300) {
                        continue;
                    }
                    double app = m[p * n + p];
                    double aqq = m[q * n + q];
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(t * t + 1);
                    double s = t * c;
                    for (int k = 0; k < n; k++) {  // columns p, q
                        double mkp = m[k * n + p];
                        double mkq = m[k * n + q];
                        m[k * n + p] = c * mkp - s * mkq;
                        m[k * n + q] = s * mkp + c * mkq;
                    }
                    for (int k = 0; k < n; k++) {  // rows p, q
                        double mpk = m[p * n + k];
                        double mqk = m[q * n + k];
                        m[p * n + k] = c * mpk - s * mqk;
                        m[q * n + k] = s * mpk + c * mqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = v[k * n + p];
                        double vkq = v[k * n + q];
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        final double[] diag = new double[n];
        for (int i = 0; i < n; i++) {
            diag[i] = m[i * n + i];
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(diag[x], diag[y]));
        double[] values = new double[n];
        double[] vectors = new double[n * n];
        for (int c = 0; c < n; c++) {
            values[c] = diag[order[c]];
            for (int r = 0; r < n; r++) {
                vectors[r * n + c] = v[r * n + order[c]];
            }
        }
        return new Eigen(values, vectors, n);
    }

    /** a (r × k) · b (k × c). */
    public static double[] multiply(double[] a, double[] b, int r, int k, int c) {
        double[] out = new double[r * c];
        for (int i = 0; i < r; i++) {
            for (int x = 0; x < k; x++) {
                double av = a[i * k + x];
                if (av == 0) {
                    continue;
                }
                int bo = x * c;
                int oo = i * c;
                for (int j = 0; j < c; j++) {
                    out[oo + j] += av * b[bo + j];
                }
            }
        }
        return out;
    }

    /** The transpose of a (r × c). */
    public static double[] transpose(double[] a, int r, int c) {
        double[] t = new double[r * c];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) {
                t[j * r + i] = a[i * c + j];
            }
        }
        return t;
    }

    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    public static double norm(double[] a) {
        return Math.sqrt(dot(a, a));
    }

    public static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    public static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }
}
