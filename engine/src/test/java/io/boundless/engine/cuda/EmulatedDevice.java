package io.boundless.engine.cuda;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * A {@link Device} whose memory is a file mapped both here and by a child process that runs the
 * kernels' own source on the CPU (src/test/cuda/replay.cpp over the emulation in emu/). Launches
 * queue until something needs their results; then they go to the child, which checks each
 * launch's arguments against the kernel's parameters. Graph capture records launches and a graph
 * launch replays them. Device pointers are file offsets (set into JCuda's pointer objects by
 * reflection, as no driver is there to make them).
 */
final class EmulatedDevice implements Device {
    static final Cuda.Probe PROBE = new Cuda.Probe(true, null, "emulated GPU", 9, 0, 12080, 1);
    private static final long BASE = 1L << 40;
    private static final Field NATIVE;
    private static final Field OFFSET;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static Path replayer;

    static {
        try {
            NATIVE = NativePointerObject.class.getDeclaredField("nativePointer");
            NATIVE.setAccessible(true);
            OFFSET = Pointer.class.getDeclaredField("byteOffset");
            OFFSET.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Arena arena = Arena.ofShared();
    private final Path file;
    private final MemorySegment memory;
    private final long reportedFree;
    private final Process child;
    private final Writer toChild;
    private final BufferedReader fromChild;
    private final List<String> pending = new ArrayList<>();
    private List<String> capture;
    private long allocated;
    int launches;

    /** Device memory of {@code bytes}; memoryInfo reports at most {@code freeLimit} free (to size the KV cache small). */
    EmulatedDevice(long bytes, long freeLimit) {
        try {
            this.file = Files.createTempFile("boundless-device", ".mem");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ch.truncate(0);
                ch.write(java.nio.ByteBuffer.allocate(1), bytes - 1);
                this.memory = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            }
            this.reportedFree = freeLimit;
            this.child = new ProcessBuilder(replayer().toString(), file.toString()).redirectError(ProcessBuilder.Redirect.appendTo(LOG.toFile())).start();
            this.toChild = new OutputStreamWriter(child.getOutputStream(), StandardCharsets.US_ASCII);
            this.fromChild = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    EmulatedDevice(long bytes) {
        this(bytes, Long.MAX_VALUE);
    }

    /** Builds the replayer once per JVM (g++, about 10 s). */
    static synchronized Path replayer() throws IOException {
        if (replayer == null) {
            Path exe = Path.of("target/kernel-replay").toAbsolutePath();
            Files.createDirectories(exe.getParent());
            // -fno-strict-aliasing: the kernels reinterpret registers and shared memory as CUDA allows and C++ does not
            Process p = new ProcessBuilder("g++", "-std=c++17", "-O2", "-fno-strict-aliasing", "-w", "-I", "src/test/cuda/emu", "-o", exe.toString(), "src/test/cuda/replay.cpp")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            try {
                if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    throw new IOException("compiling the kernel replayer failed:\n" + out);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            replayer = exe;
        }
        return replayer;
    }

    static long offset(CUdeviceptr p) {
        try {
            return NATIVE.getLong(p) - BASE + OFFSET.getLong(p);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static CUdeviceptr pointer(long offset) {
        CUdeviceptr p = new CUdeviceptr();
        try {
            NATIVE.setLong(p, BASE + offset);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        return p;
    }

    @Override
    public CUdeviceptr alloc(long bytes) {
        long at = (allocated + 255) & ~255L;
        if (at + bytes > memory.byteSize()) {
            return null;
        }
        allocated = at + Math.max(bytes, 4);
        return pointer(at);
    }

    private MemorySegment at(CUdeviceptr p, long bytes) {
        flush();
        return memory.asSlice(offset(p), bytes);
    }

    @Override
    public void upload(CUdeviceptr dst, MemorySegment src, long bytes) {
        MemorySegment.copy(src, 0, at(dst, bytes), 0, bytes);
    }

    @Override
    public void upload(CUdeviceptr dst, int[] src, int count) {
        MemorySegment.copy(src, 0, at(dst, count * 4L), I32, 0, count);
    }

    @Override
    public void upload(CUdeviceptr dst, float[] src, int count) {
        MemorySegment.copy(src, 0, at(dst, count * 4L), F32, 0, count);
    }

    @Override
    public void download(int[] dst, CUdeviceptr src, int count) {
        MemorySegment.copy(at(src, count * 4L), I32, 0, dst, 0, count);
    }

    @Override
    public void download(float[] dst, CUdeviceptr src, int count) {
        MemorySegment.copy(at(src, count * 4L), F32, 0, dst, 0, count);
    }

    @Override
    public void download(double[] dst, CUdeviceptr src, int count) {
        MemorySegment.copy(at(src, count * 8L), F64, 0, dst, 0, count);
    }

    @Override
    public void copy(CUdeviceptr dst, CUdeviceptr src, long bytes) {
        MemorySegment.copy(at(src, bytes), 0, at(dst, bytes), 0, bytes);
    }

    @Override
    public void fill32(CUdeviceptr dst, int value, long count) {
        MemorySegment s = at(dst, count * 4);
        for (long i = 0; i < count; i++) {
            s.set(I32, i * 4, value);
        }
    }

    @Override
    public long[] memoryInfo() {
        return new long[] {Math.min(reportedFree, memory.byteSize() - allocated), memory.byteSize()};
    }

    @Override
    public void launch(String kernel, int gridX, int gridY, int threads, Object... args) {
        StringBuilder b = new StringBuilder("launch ").append(kernel).append(' ').append(gridX).append(' ').append(gridY).append(' ').append(threads);
        for (Object a : args) {
            b.append(' ').append(switch (a) {
                case null -> "p:-1";
                case CUdeviceptr p -> "p:" + offset(p);
                case Integer v -> "i:" + v;
                case Long v -> "l:" + v;
                case Float v -> "f:" + Integer.toHexString(Float.floatToRawIntBits(v));
                default -> throw new IllegalArgumentException("kernel argument " + a.getClass());
            });
        }
        if (gridX > 0 && gridY > 0) {
            (capture != null ? capture : pending).add(b.toString());
        }
    }

    /** Sends the queued launches and waits until the child has run them. */
    private void flush() {
        if (pending.isEmpty()) {
            return;
        }
        try {
            for (String l : pending) {
                toChild.write(l);
                toChild.write('\n');
                launches++;
            }
            pending.clear();
            toChild.write("sync\n");
            toChild.flush();
            String reply = fromChild.readLine();
            if (!"ok".equals(reply)) {
                throw new CudaException("the emulated device failed: " + reply + "\n" + logTail());
            }
        } catch (IOException e) {
            throw new CudaException("the emulated device died: " + e.getMessage() + "\n" + logTail());
        }
    }

    private static final Path LOG = Path.of("target/kernel-replay.log");

    private static String logTail() {
        try {
            List<String> lines = Files.readAllLines(LOG);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 10), lines.size()));
        } catch (IOException e) {
            return "(no replay log)";
        }
    }

    @Override
    public void synchronize() {
        flush();
    }

    @Override
    public void beginCapture() {
        capture = new ArrayList<>();
    }

    @Override
    public Object endCapture() {
        List<String> g = List.copyOf(capture);
        capture = null;
        return g;
    }

    @Override
    @SuppressWarnings("unchecked")
    public void launchGraph(Object graph) {
        pending.addAll((List<String>) graph);
    }

    @Override
    public String kernelForm() {
        return "kernels emulated on the CPU";
    }

    @Override
    public Optional<String> pciBusId() {
        return Optional.empty();
    }

    @Override
    public void bind() {}

    @Override
    public void close() {
        try {
            toChild.write("quit\n");
            toChild.flush();
            child.waitFor(10, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            child.destroyForcibly();
        }
        arena.close();
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // a temp file
        }
    }
}
