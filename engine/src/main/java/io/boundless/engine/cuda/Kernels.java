package io.boundless.engine.cuda;

import io.boundless.engine.backend.BackendUnavailableException;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The compiled kernels (bin/build-kernels puts them in this package's resources): the sm_90 cubin
 * on compute capability 9.0, else the compute_80 PTX, which the driver compiles at load. Launches
 * check the driver's result; with {@code syncEachLaunch} each launch is also waited for, so that an
 * asynchronous fault names its kernel (the device check's debugging mode).
 */
final class Kernels {
    static final List<String> MODULES = List.of("elementwise", "gemv", "gemm", "attention", "sample");
    private static final String RESOURCES = "/io/boundless/engine/cuda/";

    private final Map<String, CUfunction> functions = new HashMap<>();
    private final List<CUmodule> modules = new java.util.ArrayList<>();
    private final boolean syncEachLaunch;
    /** A graph capture is under way: launches are recorded, not run, so there is nothing to wait for. */
    boolean capturing;
    final String form;

    Kernels(int major, int minor, boolean syncEachLaunch) {
        this.syncEachLaunch = syncEachLaunch;
        boolean cubin = major == 9 && minor == 0;
        this.form = cubin ? "sm_90 cubin" : "compute_80 PTX (compiled by the driver at load)";
        for (String m : MODULES) {
            byte[] image = resource(m + (cubin ? ".sm_90.cubin" : ".ptx"), !cubin);
            CUmodule module = new CUmodule();
            int r = JCudaDriver.cuModuleLoadData(module, image);
            if (r != jcuda.driver.CUresult.CUDA_SUCCESS) {
                throw new BackendUnavailableException("the device cannot load the " + m + " kernels (" + form + "): "
                        + jcuda.driver.CUresult.stringFor(r));
            }
            modules.add(module);
        }
    }

    /** A resource's bytes; PTX is text that the driver wants NUL-terminated. */
    static byte[] resource(String name, boolean terminate) {
        try (InputStream in = Kernels.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) {
                throw new BackendUnavailableException("the kernel file " + name + " is not in the engine jar (bin/build-kernels makes it)");
            }
            byte[] b = in.readAllBytes();
            return terminate ? java.util.Arrays.copyOf(b, b.length + 1) : b;
        } catch (IOException e) {
            throw new BackendUnavailableException("cannot read the kernel file " + name + ": " + e.getMessage());
        }
    }

    CUfunction get(String name) {
        return functions.computeIfAbsent(name, n -> {
            for (CUmodule m : modules) {
                CUfunction f = new CUfunction();
                if (JCudaDriver.cuModuleGetFunction(f, m, n) == jcuda.driver.CUresult.CUDA_SUCCESS) {
                    return f;
                }
            }
            throw new CudaException("no kernel named " + n + " in " + MODULES);
        });
    }

    /**
     * Launches kernel {@code name} on a (gx, gy) grid of blocks of {@code threads}. Arguments:
     * CUdeviceptr (null passes a null pointer), Integer, Long, Float.
     */
    void launch(String name, int gx, int gy, int threads, CUstream stream, Object... args) {
        if (gx <= 0 || gy <= 0) {
            return;
        }
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case null -> Pointer.to(new CUdeviceptr());
                case CUdeviceptr p -> Pointer.to(p);
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("kernel argument " + i + " of " + name + ": " + args[i].getClass());
            };
        }
        Cuda.check(JCudaDriver.cuLaunchKernel(get(name), gx, gy, 1, threads, 1, 1, 0, stream, Pointer.to(params), null), "launching " + name);
        if (syncEachLaunch && !capturing) {
            Cuda.check(JCudaDriver.cuStreamSynchronize(stream), "kernel " + name);
        }
    }

    void unload() {
        for (CUmodule m : modules) {
            JCudaDriver.cuModuleUnload(m);
        }
        modules.clear();
        functions.clear();
    }
}
