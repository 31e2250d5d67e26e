package io.boundless.engine.cuda;

import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA driver as JCuda reaches it: whether a usable device is here, and error checking. Nothing
 * here throws an {@link Error} at the caller: a missing driver library, a missing device or one too
 * old for the kernels becomes a {@link Probe} that says which.
 */
public final class Cuda {
    /** The kernels are PTX for compute capability 8.0 and a cubin for 9.0. */
    static final int MIN_MAJOR = 8;

    /**
     * What {@link #probe} found.
     *
     * @param reason  why CUDA cannot be used here (null when it can)
     */
    public record Probe(boolean usable, String reason, String name, int major, int minor, int driverVersion, int deviceCount) {
        static Probe unusable(String reason) {
            return new Probe(false, reason, null, 0, 0, 0, 0);
        }

        public String describe() {
            return usable ? name + ", compute capability " + major + "." + minor + ", driver API " + driverVersion / 1000 + "." + driverVersion % 1000 / 10 : reason;
        }
    }

    /** Looks for device {@code ordinal}: the driver library, cuInit, the device count, its compute capability. */
    public static Probe probe(int ordinal) {
        String driver = driverLibraryProblem();
        if (driver != null) {
            return Probe.unusable(driver);
        }
        try {
            JCudaDriver.setExceptionsEnabled(false);
        } catch (Throwable t) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError
            return Probe.unusable("the CUDA driver cannot be loaded through JCuda (" + rootMessage(t)
                    + "); a GPU node needs the NVIDIA driver's libcuda.so.1 and, on aarch64, a JCuda native library built for it");
        }
        int r = JCudaDriver.cuInit(0);
        if (r != CUresult.CUDA_SUCCESS) {
            return Probe.unusable("cuInit failed: " + CUresult.stringFor(r));
        }
        int[] n = new int[1];
        r = JCudaDriver.cuDeviceGetCount(n);
        if (r != CUresult.CUDA_SUCCESS || n[0] == 0) {
            return Probe.unusable(r != CUresult.CUDA_SUCCESS ? "cuDeviceGetCount failed: " + CUresult.stringFor(r) : "the CUDA driver sees no device");
        }
        if (ordinal >= n[0]) {
            return Probe.unusable("CUDA device " + ordinal + " was asked for; the driver sees " + n[0]);
        }
        CUdevice dev = new CUdevice();
        check(JCudaDriver.cuDeviceGet(dev, ordinal), "cuDeviceGet");
        int major = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        byte[] name = new byte[256];
        check(JCudaDriver.cuDeviceGetName(name, name.length, dev), "cuDeviceGetName");
        String s = new String(name, java.nio.charset.StandardCharsets.UTF_8);
        s = s.indexOf(0) >= 0 ? s.substring(0, s.indexOf(0)) : s;
        int[] version = new int[1];
        check(JCudaDriver.cuDriverGetVersion(version), "cuDriverGetVersion");
        if (major < MIN_MAJOR) {
            return new Probe(false, s + " has compute capability " + major + "." + minor + "; the kernels need " + MIN_MAJOR + ".0 or later (bf16 tensor cores)",
                    s, major, minor, version[0], n[0]);
        }
        return new Probe(true, null, s, major, minor, version[0], n[0]);
    }

    static int attribute(CUdevice dev, int attribute) {
        int[] v = new int[1];
        check(JCudaDriver.cuDeviceGetAttribute(v, attribute, dev), "cuDeviceGetAttribute(" + CUdevice_attribute.stringFor(attribute) + ")");
        return v[0];
    }

    /** Throws a {@link CudaException} naming the call and the driver's error when r is not CUDA_SUCCESS. */
    static void check(int r, String what) {
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaException(what + " failed: " + CUresult.stringFor(r));
        }
    }

    /** Null when the NVIDIA driver's libcuda.so.1 loads, else why not. */
    static String driverLibraryProblem() {
        try {
            java.lang.foreign.SymbolLookup.libraryLookup("libcuda.so.1", java.lang.foreign.Arena.global());
            return null;
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return "no NVIDIA driver here: libcuda.so.1 cannot be loaded (" + e.getMessage() + ")";
        }
    }

    /** JCuda's load errors carry nested stack traces; keep the last line that says what failed. */
    static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        String m = String.valueOf(c.getMessage());
        String best = m.lines().findFirst().orElse(m);
        for (String line : m.lines().toList()) {
            if (line.contains("UnsatisfiedLinkError:")) {
                best = line.substring(line.indexOf("UnsatisfiedLinkError:") + "UnsatisfiedLinkError:".length()).trim();
            }
        }
        return c.getClass().getSimpleName() + ": " + best;
    }

    private Cuda() {}
}
