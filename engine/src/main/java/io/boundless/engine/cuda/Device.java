package io.boundless.engine.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Optional;
import jcuda.driver.CUdeviceptr;

/**
 * What {@link CudaBackend} needs of a GPU: memory, copies, kernel launches on one stream, and graph
 * capture. {@link JCudaDevice} is the real one; tests run the backend on an emulated one (the
 * kernels' source compiled for the CPU), which is why the backend reaches the driver only here.
 * Copies from and to the host are synchronous with the stream's earlier work.
 */
interface Device extends AutoCloseable {

    /** Device memory of {@code bytes}, or null when the device has not that much free. */
    CUdeviceptr alloc(long bytes);

    void upload(CUdeviceptr dst, MemorySegment src, long bytes);

    void upload(CUdeviceptr dst, int[] src, int count);

    void upload(CUdeviceptr dst, float[] src, int count);

    void download(int[] dst, CUdeviceptr src, int count);

    void download(float[] dst, CUdeviceptr src, int count);

    void download(double[] dst, CUdeviceptr src, int count);

    /** A device-to-device copy, ordered on the stream. */
    void copy(CUdeviceptr dst, CUdeviceptr src, long bytes);

    void fill32(CUdeviceptr dst, int value, long count);

    /** {free, total} bytes of device memory. */
    long[] memoryInfo();

    /** Launches a kernel on the stream; arguments are CUdeviceptr (null: a null pointer), Integer, Long, Float. */
    void launch(String kernel, int gridX, int gridY, int threads, Object... args);

    /** Waits for the stream's work; a kernel's fault surfaces here. */
    void synchronize();

    /** From here to {@link #endCapture} launches are recorded into a graph instead of run. */
    void beginCapture();

    Object endCapture();

    void launchGraph(Object graph);

    /** The kernels' form ("sm_90 cubin", ...), for the device description. */
    String kernelForm();

    Optional<String> pciBusId();

    /** Makes the device current on the calling thread. */
    void bind();

    @Override
    void close();
}
