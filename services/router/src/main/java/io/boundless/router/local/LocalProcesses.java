package io.boundless.router.local;

import io.boundless.router.control.ReplicaManager;
import io.boundless.router.rollout.ModelDeployment;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The local platform's replica manager: each replica is an inference process on loopback, started from the build's
 * quarkus-run.jar with its version's directory in the model store, its own ports (from a range, the lowest free one
 * first) and its own log. Stopping sends SIGTERM (the service shuts down gracefully); closing waits 20 s for every
 * process, then kills what is left.
 */
public final class LocalProcesses implements ReplicaManager {
    private static final Logger LOG = Logger.getLogger(LocalProcesses.class);

    private final List<String> command;
    private final Path store;
    private final Path logs;
    private final String model;
    private final Map<String, String> env;
    private final int firstPort;
    private final int lastPort;
    private final int httpOffset;
    private final TreeSet<Integer> used = new TreeSet<>();
    private final Map<String, Process> processes = new ConcurrentHashMap<>();
    private final Map<String, Integer> ports = new ConcurrentHashMap<>();
    private final Map<String, Path> logFiles = new ConcurrentHashMap<>();
    private final Map<String, Integer> counters = new HashMap<>();

    /**
     * @param command the inference process's command line (java, options, -jar quarkus-run.jar)
     * @param env     environment added to every replica's (threads, KV cache size, backend)
     */
    public LocalProcesses(List<String> command, Path store, Path logs, String model, Map<String, String> env, String grpcPorts, int httpOffset) {
        this.command = List.copyOf(command);
        this.store = store;
        this.logs = logs;
        this.model = model;
        this.env = Map.copyOf(env);
        String[] range = grpcPorts.split("-");
        try {
            this.firstPort = Integer.parseInt(range[0].strip());
            this.lastPort = Integer.parseInt(range[range.length - 1].strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("boundless.router.local.grpc-ports is first-last (19402-19499), not " + grpcPorts);
        }
        if (firstPort > lastPort || firstPort + httpOffset < 1) {
            throw new IllegalArgumentException("boundless.router.local.grpc-ports " + grpcPorts + " with http-offset " + httpOffset + " gives no ports");
        }
        this.httpOffset = httpOffset;
    }

    @Override
    public synchronized Handle start(String version, String source, ModelDeployment.Pool pool) throws IOException {
        Path dir = store.resolve(source).normalize();
        if (!dir.startsWith(store.normalize())) {
            throw new IOException("version " + version + "'s source " + source + " leaves the model store");
        }
        int port = freePort();
        int k = counters.merge(version + "-" + pool.name(), 1, Integer::sum);
        String id = version + "-" + pool.name() + "-" + k;
        Path log = logs.resolve(id + ".log");
        Files.createDirectories(logs);
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Map<String, String> e = pb.environment();
        e.keySet().removeIf(name -> name.startsWith("BOUNDLESS_ROUTER_") || name.startsWith("QUARKUS_"));
        e.putAll(env);
        e.put("BOUNDLESS_INFERENCE_MODEL", dir.toString());
        e.put("BOUNDLESS_INFERENCE_MODEL_NAME", model);
        e.put("BOUNDLESS_INFERENCE_BACKEND", pool.acceleratorOrCpu().backend());
        e.put("QUARKUS_GRPC_SERVER_PORT", Integer.toString(port));
        e.put("QUARKUS_HTTP_PORT", Integer.toString(port + httpOffset));
        e.put("OPT_OUT_TRACKING", "true");
        Process p = pb.start();
        used.add(port);
        processes.put(id, p);
        ports.put(id, port);
        logFiles.put(id, log);
        LOG.infof("started replica %s of %s (%s) in pool %s on 127.0.0.1:%d, pid %d, log %s", id, version, dir, pool.name(), port, p.pid(), log);
        return new Handle(id, "127.0.0.1:" + port, version, pool.name());
    }

    private int freePort() throws IOException {
        for (int port = firstPort; port <= lastPort; port++) {
            if (!used.contains(port) && free(port) && free(port + httpOffset)) {
                return port;
            }
        }
        throw new IOException("no free port left in " + firstPort + "-" + lastPort + " (boundless.router.local.grpc-ports)");
    }

    private static boolean free(int port) {
        try (java.net.ServerSocket probe = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public boolean alive(Handle h) {
        Process p = processes.get(h.id());
        boolean alive = p != null && p.isAlive();
        if (!alive) {
            release(h.id());
        }
        return alive;
    }

    private synchronized void release(String id) {
        Integer port = ports.remove(id);
        if (port != null) {
            used.remove(port);
        }
    }

    @Override
    public String exitReason(Handle h) {
        Process p = processes.get(h.id());
        if (p == null || p.isAlive()) {
            return null;
        }
        String last = lastError(logFiles.get(h.id()));
        return "exit code " + p.exitValue() + (last == null ? "" : ": " + last) + " (log: " + logFiles.get(h.id()) + ")";
    }

    /** The last line of the log's tail that says ERROR, shortened. */
    static String lastError(Path log) {
        if (log == null || !Files.exists(log)) {
            return null;
        }
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            long from = Math.max(0, f.length() - 8192);
            byte[] tail = new byte[(int) (f.length() - from)];
            f.seek(from);
            f.readFully(tail);
            String found = null;
            for (String line : new String(tail, StandardCharsets.UTF_8).split("\n")) {
                if (line.contains("ERROR")) {
                    found = line.strip();
                }
            }
            return found == null ? null : found.length() > 300 ? found.substring(0, 300) + "..." : found;
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public void stop(Handle h) {
        Process p = processes.get(h.id());
        if (p != null && p.isAlive()) {
            LOG.infof("stopping replica %s (pid %d)", h.id(), p.pid());
            p.destroy();
            // its port is free again once it has exited (alive() says so)
            Thread.ofVirtual().start(() -> {
                try {
                    if (!p.waitFor(30, TimeUnit.SECONDS)) {
                        LOG.warnf("replica %s did not stop within 30 s of SIGTERM; killing it", h.id());
                        p.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    p.destroyForcibly();
                }
                release(h.id());
            });
        }
    }

    @Override
    public void close() {
        List<Process> all = new ArrayList<>(processes.values());
        all.forEach(Process::destroy);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        for (Process p : all) {
            try {
                if (!p.waitFor(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
