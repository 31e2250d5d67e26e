package io.boundless.cli;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The {@code boundless} command.
 *
 * <pre>
 * boundless up [--model DIR] [--replicas N]   start the platform locally; Ctrl-C stops it
 * boundless chat [--max-tokens N] TEXT...     one chat turn through the router, streamed
 * boundless generate [--max-tokens N] TEXT... continue a prompt, streamed
 * boundless models                           list the served models
 * </pre>
 * The client commands talk to the router at BOUNDLESS_ROUTER (default 127.0.0.1:9100), with the
 * API key in BOUNDLESS_API_KEY if one is needed.
 */
public final class Boundless {

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>(List.of(args));
        Path root = Path.of(".");
        if (rest.size() >= 2 && rest.get(0).equals("--root")) {
            root = Path.of(rest.get(1));
            rest = new ArrayList<>(rest.subList(2, rest.size()));
        }
        String command = rest.isEmpty() ? "" : rest.remove(0);
        int code = switch (command) {
            case "up" -> up(root, rest);
            case "chat", "generate" -> text(command, rest);
            case "models" -> models();
            default -> {
                System.err.println("""
                        usage: boundless up [--model DIR] [--replicas N]    start the platform locally (Ctrl-C stops it)
                               boundless chat [--max-tokens N] TEXT...      one chat turn through the router
                               boundless generate [--max-tokens N] TEXT...  continue a prompt
                               boundless models                             list the served models
                               boundless tokenize TEXT...                   encode and decode through the tokenizer""");
                yield 2;
            }
        };
        System.exit(code);
    }

    private static int up(Path root, List<String> args) throws Exception {
        Path model = null;
        int replicas = 2;
        for (Iterator<String> it = args.iterator(); it.hasNext(); ) {
            String a = it.next();
            switch (a) {
                case "--model" -> model = Path.of(value(it, a));
                case "--replicas" -> replicas = Integer.parseInt(value(it, a));
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        Path work = Path.of(System.getProperty("user.home"), ".boundless");
        LocalPlatform platform = new LocalPlatform(new LocalPlatform.Options(root.toAbsolutePath().normalize(), work, model, replicas, 9100, 8100, Map.of(), Map.of(), Map.of()));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("\nstopping the platform...");
            platform.close();
            stopped.countDown();
        }));
        System.out.println("starting the tokenizer, " + replicas + " inference replicas and the router (logs: " + work.resolve("logs") + ")...");
        try {
            platform.start(Duration.ofMinutes(4));
        } catch (IllegalStateException | IllegalArgumentException e) {
            System.err.println("boundless up: " + e.getMessage());
            platform.close();
            return 1;
        }
        StringBuilder banner = new StringBuilder("\nBoundless is up on loopback, serving model '" + platform.modelName() + "'");
        if (model == null) {
            banner.append(":\n  THE DEFAULT MODEL HAS RANDOM WEIGHTS. There is no trained default model yet: it answers with random\n"
                    + "  text, not language. Serve a real checkpoint with: boundless up --model /path/to/hf-model-dir");
        }
        banner.append("\n\n");
        for (var s : platform.services()) {
            banner.append(String.format("  %-12s gRPC 127.0.0.1:%d   http://127.0.0.1:%d/q/health%n", s.name(), s.grpcPort(), s.httpPort()));
        }
        banner.append(String.format("%n  OpenAI API:  http://127.0.0.1:%d/v1   (chat/completions, completions, models)%n", platform.router().httpPort()));
        banner.append("  gRPC API:    127.0.0.1:" + platform.router().grpcPort() + "  boundless.router.v1.Router\n");
        banner.append("  Auth is off locally (the router's log says so).\n");
        System.out.println(banner);
        System.out.print("boundless chat \"Hello! How are you today?\"\n> ");
        chat("127.0.0.1:" + platform.router().grpcPort(), null, "Hello! How are you today?", 24, true);
        System.out.println("\nTry: bin/boundless chat \"your question\"   — Ctrl-C stops the platform.");
        stopped.await();
        return 0;
    }

    private static int text(String command, List<String> args) {
        int max = 64;
        List<String> words = new ArrayList<>();
        for (Iterator<String> it = args.iterator(); it.hasNext(); ) {
            String a = it.next();
            if (a.equals("--max-tokens")) {
                max = Integer.parseInt(value(it, a));
            } else {
                words.add(a);
            }
        }
        if (words.isEmpty()) {
            System.err.println("boundless " + command + ": give the text");
            return 2;
        }
        String target = System.getenv().getOrDefault("BOUNDLESS_ROUTER", "127.0.0.1:9100");
        try {
            chat(target, null, String.join(" ", words), max, command.equals("chat"));
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("\nboundless " + command + ": " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return 1;
        }
    }

    private static int models() {
        String target = System.getenv().getOrDefault("BOUNDLESS_ROUTER", "127.0.0.1:9100");
        ManagedChannel channel = channel(target);
        try {
            for (var m : stub(channel).listModels(ListModelsRequest.getDefaultInstance()).getModelsList()) {
                System.out.printf("%s  (%d replicas ready, context %d tokens)%n", m.getId(), m.getReadyReplicas(), m.getContextLength());
            }
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("boundless models: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return 1;
        } finally {
            channel.shutdownNow();
        }
    }

    /** Streams one chat turn (or a plain continuation) to stdout. */
    static void chat(String target, String model, String text, int maxTokens, boolean chat) {
        ManagedChannel channel = channel(target);
        try {
            var stub = stub(channel).withDeadlineAfter(5, TimeUnit.MINUTES);
            String name = model != null ? model : stub.listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getId();
            Sampling sampling = Sampling.newBuilder().setMaxTokens(maxTokens).build();
            var stream = chat
                    ? stub.chat(ChatRequest.newBuilder().setModel(name).addMessages(ChatMessage.newBuilder().setRole("user").setContent(text)).setSampling(sampling).build())
                    : null;
            if (stream != null) {
                stream.forEachRemaining(r -> print(r.getText(), r.getFinishReason(), r.hasUsage() ? r.getUsage() : null));
            } else {
                stub.generate(GenerateRequest.newBuilder().setModel(name).setText(text).setSampling(sampling).build())
                        .forEachRemaining(r -> print(r.getText(), r.getFinishReason(), r.hasUsage() ? r.getUsage() : null));
            }
            System.out.flush();
        } finally {
            channel.shutdownNow();
        }
    }

    private static void print(String text, FinishReason finish, io.boundless.proto.router.v1.Usage usage) {
        System.out.print(text);
        if (usage != null) {
            System.out.printf("%n[%d prompt tokens (%d cached), %d generated]%n", usage.getPromptTokens(), usage.getCachedPromptTokens(), usage.getCompletionTokens());
        }
        System.out.flush();
    }

    private static ManagedChannel channel(String target) {
        return ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    }

    private static RouterGrpc.RouterBlockingStub stub(ManagedChannel channel) {
        var stub = RouterGrpc.newBlockingStub(channel);
        String key = System.getenv("BOUNDLESS_API_KEY");
        if (key != null && !key.isEmpty()) {
            Metadata m = new Metadata();
            m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
        }
        return stub;
    }

    private static String value(Iterator<String> it, String option) {
        if (!it.hasNext()) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return it.next();
    }

    private Boundless() {}
}
