package io.boundless.engine.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.JCudaDriver;

/** A GPU through JCuda's driver API: the device's primary context, one blocking stream, the kernels' modules. */
final class JCudaDevice implements Device {
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final Kernels kernels;
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    private final List<CUgraphExec> graphs = new ArrayList<>();
    private Thread boundThread;
    private boolean closed;

    JCudaDevice(Cuda.Probe probe, CudaOptions options) {
        Cuda.check(JCudaDriver.cuDeviceGet(device, options.device()), "cuDeviceGet");
        Cuda.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        bind();
        try {
            Cuda.check(JCudaDriver.cuStreamCreate(stream, 0), "cuStreamCreate");
            this.kernels = new Kernels(probe.major(), probe.minor(), options.syncEachLaunch());
        } catch (RuntimeException e) {
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
            throw e;
        }
    }

    @Override
    public CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        int r = JCudaDriver.cuMemAlloc(p, Math.max(bytes, 4));
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            return null;
        }
        Cuda.check(r, "cuMemAlloc(" + bytes + ")");
        allocations.add(p);
        return p;
    }

    @Override
    public void upload(CUdeviceptr dst, MemorySegment src, long bytes) {
        Cuda.check(JCudaDriver.cuMemcpyHtoD(dst, Pointer.to(src.asSlice(0, bytes).asByteBuffer()), bytes), "copying to the device");
    }

    @Override
    public void upload(CUdeviceptr dst, int[] src, int count) {
        Cuda.check(JCudaDriver.cuMemcpyHtoD(dst, Pointer.to(src), count * 4L), "copying to the device");
    }

    @Override
    public void upload(CUdeviceptr dst, float[] src, int count) {
        Cuda.check(JCudaDriver.cuMemcpyHtoD(dst, Pointer.to(src), count * 4L), "copying to the device");
    }

    @Override
    public void download(int[] dst, CUdeviceptr src, int count) {
        Cuda.check(JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), src, count * 4L), "copying from the device");
    }

    @Override
    public void download(float[] dst, CUdeviceptr src, int count) {
        Cuda.check(JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), src, count * 4L), "copying from the device");
    }

    @Override
    public void download(double[] dst, CUdeviceptr src, int count) {
        Cuda.check(JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), src, count * 8L), "copying from the device");
    }

    @Override
    public void copy(CUdeviceptr dst, CUdeviceptr src, long bytes) {
        Cuda.check(JCudaDriver.cuMemcpyDtoDAsync(dst, src, bytes, stream), "copying on the device");
    }

    @Override
    public void fill32(CUdeviceptr dst, int value, long count) {
        Cuda.check(JCudaDriver.cuMemsetD32Async(dst, value, count, stream), "cuMemsetD32Async");
    }

    @Override
    public long[] memoryInfo() {
        long[] free = new long[1];
        long[] total = new long[1];
        Cuda.check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    @Override
    public void launch(String kernel, int gridX, int gridY, int threads, Object... args) {
        kernels.launch(kernel, gridX, gridY, threads, stream, args);
    }

    @Override
    public void synchronize() {
        Cuda.check(JCudaDriver.cuStreamSynchronize(stream), "the stream's kernels");
    }

    @Override
    public void beginCapture() {
        Cuda.check(JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
        kernels.capturing = true;
    }

    @Override
    public Object endCapture() {
        kernels.capturing = false;
        CUgraph g = new CUgraph();
        Cuda.check(JCudaDriver.cuStreamEndCapture(stream, g), "cuStreamEndCapture");
        CUgraphExec exec = new CUgraphExec();
        try {
            Cuda.check(JCudaDriver.cuGraphInstantiate(exec, g, 0), "cuGraphInstantiate");
        } finally {
            JCudaDriver.cuGraphDestroy(g);
        }
        graphs.add(exec);
        return exec;
    }

    @Override
    public void launchGraph(Object graph) {
        Cuda.check(JCudaDriver.cuGraphLaunch((CUgraphExec) graph, stream), "cuGraphLaunch");
    }

    @Override
    public String kernelForm() {
        return kernels.form;
    }

    @Override
    public Optional<String> pciBusId() {
        String[] id = new String[1];
        int r = JCudaDriver.cuDeviceGetPCIBusId(id, 32, device);
        return r == CUresult.CUDA_SUCCESS && id[0] != null ? Optional.of(id[0].trim()) : Optional.empty();
    }

    @Override
    public void bind() {
        if (boundThread != Thread.currentThread()) {
            Cuda.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            boundThread = Thread.currentThread();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        JCudaDriver.cuCtxSetCurrent(context);
        JCudaDriver.cuCtxSynchronize();
        for (CUgraphExec g : graphs) {
            JCudaDriver.cuGraphExecDestroy(g);
        }
        for (CUdeviceptr p : allocations) {
            JCudaDriver.cuMemFree(p);
        }
        kernels.unload();
        JCudaDriver.cuStreamDestroy(stream);
        JCudaDriver.cuDevicePrimaryCtxRelease(device);
    }
}
