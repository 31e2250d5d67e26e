package io.boundless.edit;

/**
 * The float64 linear algebra the editing methods need, on row-major square or rectangular arrays: Cholesky
 * solves (symmetric positive definite systems: ROME's C⁻¹k, MEMIT's λC + KKᵀ), LU with partial pivoting (AlphaEdit's
 * P·M + αI is not symmetric), and the symmetric eigendecomposition (Householder and QL) for AlphaEdit's null space.
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
     * The eigendecomposition of the symmetric n × n a (a is not changed): Householder reduction to tridiagonal form,
     * then the implicit QL iteration with shifts, accumulating the transformations (the EISPACK tred2 / tql2 scheme).
     * O(n³): a 704-wide covariance takes about a second.
     */
    public static Eigen symmetricEigen(double[] a, int n) {
        double[][] v = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                v[i][j] = a[i * n + j];
            }
        }
        double[] d = new double[n];
        double[] e = new double[n];
        tridiagonalize(v, d, e, n);
        ql(v, d, e, n);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(d[x], d[y]));
        double[] values = new double[n];
        double[] vectors = new double[n * n];
        for (int c = 0; c < n; c++) {
            values[c] = d[order[c]];
            for (int r = 0; r < n; r++) {
                vectors[r * n + c] = v[r][order[c]];
            }
        }
        return new Eigen(values, vectors, n);
    }

    /** Householder: v holds the matrix and ends as the orthogonal transform; d the diagonal, e the subdiagonal. */
    private static void tridiagonalize(double[][] v, double[] d, double[] e, int n) {
        for (int j = 0; j < n; j++) {
            d[j] = v[n - 1][j];
        }
        for (int i = n - 1; i > 0; i--) {
            double scale = 0;
            double h = 0;
            for (int k = 0; k < i; k++) {
                scale += Math.abs(d[k]);
            }
            if (scale == 0) {
                e[i] = d[i - 1];
                for (int j = 0; j < i; j++) {
                    d[j] = v[i - 1][j];
                    v[i][j] = 0;
                    v[j][i] = 0;
                }
            } else {
                for (int k = 0; k < i; k++) {
                    d[k] /= scale;
                    h += d[k] * d[k];
                }
                double f = d[i - 1];
                double g = Math.sqrt(h);
                if (f > 0) {
                    g = -g;
                }
                e[i] = scale * g;
                h -= f * g;
                d[i - 1] = f - g;
                for (int j = 0; j < i; j++) {
                    e[j] = 0;
                }
                for (int j = 0; j < i; j++) {
                    f = d[j];
                    v[j][i] = f;
                    g = e[j] + v[j][j] * f;
                    for (int k = j + 1; k <= i - 1; k++) {
                        g += v[k][j] * d[k];
                        e[k] += v[k][j] * f;
                    }
                    e[j] = g;
                }
                f = 0;
                for (int j = 0; j < i; j++) {
                    e[j] /= h;
                    f += e[j] * d[j];
                }
                double hh = f / (h + h);
                for (int j = 0; j < i; j++) {
                    e[j] -= hh * d[j];
                }
                for (int j = 0; j < i; j++) {
                    f = d[j];
                    g = e[j];
                    for (int k = j; k <= i - 1; k++) {
                        v[k][j] -= (f * e[k] + g * d[k]);
                    }
                    d[j] = v[i - 1][j];
                    v[i][j] = 0;
                }
            }
            d[i] = h;
        }
        // accumulate the transformations
        for (int i = 0; i < n - 1; i++) {
            v[n - 1][i] = v[i][i];
            v[i][i] = 1;
            double h = d[i + 1];
            if (h != 0) {
                for (int k = 0; k <= i; k++) {
                    d[k] = v[k][i + 1] / h;
                }
                for (int j = 0; j <= i; j++) {
                    double g = 0;
                    for (int k = 0; k <= i; k++) {
                        g += v[k][i + 1] * v[k][j];
                    }
                    for (int k = 0; k <= i; k++) {
                        v[k][j] -= g * d[k];
                    }
                }
            }
            for (int k = 0; k <= i; k++) {
                v[k][i + 1] = 0;
            }
        }
        for (int j = 0; j < n; j++) {
            d[j] = v[n - 1][j];
            v[n - 1][j] = 0;
        }
        v[n - 1][n - 1] = 1;
        e[0] = 0;
    }

    /** The implicit QL iteration on the tridiagonal (d, e), rotating v along. */
    private static void ql(double[][] v, double[] d, double[] e, int n) {
        for (int i = 1; i < n; i++) {
            e[i - 1] = e[i];
        }
        e[n - 1] = 0;
        double f = 0;
        double tst1 = 0;
        double eps = Math.ulp(1.0);
        for (int l = 0; l < n; l++) {
            tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
            int m = l;
            while (m < n) {
                if (Math.abs(e[m]) <= eps * tst1) {
                    break;
                }
                m++;
            }
            if (m > l) {
                int iter = 0;
                do {
                    if (++iter > 300) {
                        throw new ArithmeticException("the eigenvalue iteration did not converge");
                    }
                    double g = d[l];
                    double p = (d[l + 1] - g) / (2 * e[l]);
                    double r = Math.hypot(p, 1);
                    if (p < 0) {
                        r = -r;
                    }
                    d[l] = e[l] / (p + r);
                    d[l + 1] = e[l] * (p + r);
                    double dl1 = d[l + 1];
                    double h = g - d[l];
                    for (int i = l + 2; i < n; i++) {
                        d[i] -= h;
                    }
                    f += h;
                    p = d[m];
                    double c = 1;
                    double c2 = c;
                    double c3 = c;
                    double el1 = e[l + 1];
                    double s = 0;
                    double s2 = 0;
                    for (int i = m - 1; i >= l; i--) {
                        c3 = c2;
                        c2 = c;
                        s2 = s;
                        g = c * e[i];
                        h = c * p;
                        r = Math.hypot(p, e[i]);
                        e[i + 1] = s * r;
                        s = e[i] / r;
                        c = p / r;
                        p = c * d[i] - s * g;
                        d[i + 1] = h + s * (c * g + s * d[i]);
                        for (int k = 0; k < n; k++) {
                            h = v[k][i + 1];
                            v[k][i + 1] = s * v[k][i] + c * h;
                            v[k][i] = c * v[k][i] - s * h;
                        }
                    }
                    p = -s * s2 * c3 * el1 * e[l] / dl1;
                    e[l] = s * p;
                    d[l] = c * p;
                } while (Math.abs(e[l]) > eps * tst1);
            }
            d[l] = d[l] + f;
            e[l] = 0;
        }
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
