package io.boundless.engine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * GPU utilization and memory from NVML ({@code libnvidia-ml.so.1}, which the NVIDIA driver puts on
 * every GPU node), called through {@code java.lang.foreign}: no JNI library of ours. The device is
 * found by its PCI bus id, so that it is the one CUDA uses whatever the two libraries' orderings.
 * {@link #open} returns a reason instead of an instance where NVML is missing or refuses.
 */
public final class Nvml implements AutoCloseable {
    private static final int NVML_SUCCESS = 0;

    /** One reading: utilization over NVML's last sample period (0 to 1), memory in bytes. */
    public record Reading(double utilization, long memoryUsed, long memoryTotal) {}

    /** Either an open device or the reason there is none. */
    public record Opened(Nvml nvml, String reason) {}

    private final Arena arena = Arena.ofShared();
    private final MethodHandle utilizationRates;
    private final MethodHandle memoryInfo;
    private final MethodHandle shutdown;
    private final MemorySegment device;
    private final String busId;

    private Nvml(SymbolLookup lib, String busId) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle init = linker.downcallHandle(find(lib, "nvmlInit_v2"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        MethodHandle byBus = linker.downcallHandle(find(lib, "nvmlDeviceGetHandleByPciBusId_v2"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        this.utilizationRates = linker.downcallHandle(find(lib, "nvmlDeviceGetUtilizationRates"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        this.memoryInfo = linker.downcallHandle(find(lib, "nvmlDeviceGetMemoryInfo"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        this.shutdown = linker.downcallHandle(find(lib, "nvmlShutdown"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        int r = (int) init.invokeExact();
        if (r != NVML_SUCCESS) {
            throw new IllegalStateException("nvmlInit_v2 returned " + r);
        }
        MemorySegment handle = arena.allocate(ValueLayout.ADDRESS);
        r = (int) byBus.invokeExact(arena.allocateFrom(busId), handle);
        if (r != NVML_SUCCESS) {
            int ignored = (int) shutdown.invokeExact();
            throw new IllegalStateException("NVML has no device at PCI bus id " + busId + " (error " + r + ")");
        }
        this.device = handle.get(ValueLayout.ADDRESS, 0);
        this.busId = busId;
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException("libnvidia-ml.so.1 has no " + name));
    }

    /** NVML for the device at this PCI bus id (as CUDA reports it, e.g. 0000:19:00.0). */
    public static Opened open(String pciBusId) {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup("libnvidia-ml.so.1", Arena.global());
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return new Opened(null, "libnvidia-ml.so.1 cannot be loaded (" + e.getMessage() + ")");
        }
        try {
            return new Opened(new Nvml(lib, pciBusId), null);
        } catch (Throwable t) {
            return new Opened(null, String.valueOf(t.getMessage()));
        }
    }

    public String busId() {
        return busId;
    }

    /** Reads utilization (nvmlUtilization_t: gpu, memory percent) and memory (nvmlMemory_t: total, free, used). */
    public synchronized Reading read() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment util = a.allocate(8, 4);
            MemorySegment mem = a.allocate(24, 8);
            int r1 = (int) utilizationRates.invokeExact(device, util);
            int r2 = (int) memoryInfo.invokeExact(device, mem);
            if (r1 != NVML_SUCCESS || r2 != NVML_SUCCESS) {
                throw new IllegalStateException("NVML readings failed (utilization " + r1 + ", memory " + r2 + ")");
            }
            return new Reading(util.get(ValueLayout.JAVA_INT, 0) / 100.0, mem.get(ValueLayout.JAVA_LONG, 16), mem.get(ValueLayout.JAVA_LONG, 0));
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("NVML call failed", t);
        }
    }

    @Override
    public synchronized void close() {
        try {
            int ignored = (int) shutdown.invokeExact();
        } catch (Throwable t) {
            // closing at shutdown: nothing to do
        }
        arena.close();
    }
}
