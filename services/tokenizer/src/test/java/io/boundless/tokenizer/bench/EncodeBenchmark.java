package io.boundless.tokenizer.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.proto.tokenizer.v1.EncodeRequest;
import io.boundless.proto.tokenizer.v1.TokenizerGrpc;
import io.boundless.tokenizer.TextTokenizer;
import io.boundless.tokenizer.TokenizerRegistry;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Encode throughput in-process (single thread, document by document) and Encode latency through
 * the service. Run by bin/bench-tokenizer, which also runs the peers on the same documents.
 *
 * <pre>
 *   EncodeBenchmark inprocess &lt;store&gt; &lt;docs.json&gt; &lt;seconds&gt; model...
 *   EncodeBenchmark service &lt;host:port&gt; &lt;model&gt; &lt;requests&gt; &lt;text-bytes&gt;
 * </pre>
 */
public final class EncodeBenchmark {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "inprocess" -> inProcess(Path.of(args[1]), Path.of(args[2]), Double.parseDouble(args[3]), List.of(args).subList(4, args.length));
            case "service" -> service(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    static void inProcess(Path store, Path docsFile, double seconds, List<String> models) throws Exception {
        ObjectMapper json = new ObjectMapper();
        String[] docs = json.readValue(docsFile.toFile(), String[].class);
        try (TokenizerRegistry registry = new TokenizerRegistry(store, json)) {
            for (String model : models) {
                TextTokenizer t = registry.get(model).tokenizer();
                long warm = System.nanoTime() + 2_000_000_000L; // JIT warm-up
                while (System.nanoTime() < warm) {
                    for (String d : docs) {
                        t.encode(d, false, false);
                    }
                }
                long tokens = 0;
                long n = 0;
                long t0 = System.nanoTime();
                long deadline = t0 + (long) (seconds * 1e9);
                while (System.nanoTime() < deadline) {
                    for (String d : docs) {
                        tokens += t.encode(d, false, false).ids().length;
                        n++;
                    }
                }
                double s = (System.nanoTime() - t0) / 1e9;
                System.out.printf("{\"ours\": \"%s\", \"docs\": %d, \"tokens\": %d, \"seconds\": %.2f, \"tokens_per_second\": %.0f}%n",
                        model, n, tokens, s, tokens / s);
            }
        }
    }

    static void service(String target, String model, int requests, int textBytes) {
        String unit = "The quick brown fox jumps over the lazy dog; 42 ümlauts & 中文. ";
        StringBuilder sb = new StringBuilder();
        while (sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length < textBytes) {
            sb.append(unit);
        }
        String text = sb.toString();
        ManagedChannel channel = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
        try {
            var stub = TokenizerGrpc.newBlockingStub(channel);
            EncodeRequest req = EncodeRequest.newBuilder().setModel(model).setText(text).build();
            for (int i = 0; i < Math.max(2000, requests / 5); i++) { // warm-up: JIT on both sides
                stub.encode(req);
            }
            long[] nanos = new long[requests];
            int tokens = 0;
            for (int i = 0; i < requests; i++) {
                long t0 = System.nanoTime();
                tokens = stub.encode(req).getIdsCount();
                nanos[i] = System.nanoTime() - t0;
            }
            Arrays.sort(nanos);
            System.out.printf("{\"service\": \"%s\", \"text_bytes\": %d, \"tokens\": %d, \"requests\": %d, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}%n",
                    model, text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, tokens, requests,
                    nanos[requests / 2] / 1e6, nanos[(int) (requests * 0.9)] / 1e6, nanos[(int) (requests * 0.99)] / 1e6, nanos[requests - 1] / 1e6);
        } finally {
            channel.shutdownNow();
        }
    }
}
