package io.boundless.cli;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.GenerateRequest;
import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
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
 * boundless up [--model PATH] [--chat-template FILE] [--replicas N] [--grpc-port P] [--http-port P] [--plaintext]
 *                                             start the platform locally; Ctrl-C stops it
 * boundless up --deployment FILE             the same, running a ModelDeployment (versions, pools, scaling, rollout)
 * boundless deploy apply -f FILE             apply a ModelDeployment to the running router (a new last version rolls out)
 * boundless deploy events                    the deployment's events, then each new one (Ctrl-C ends)
 * boundless rollout status|promote|abort|pause|resume|set-weight N
 * boundless scale status                     the autoscaler's view per (version, pool)
 * boundless chat [--max-tokens N] TEXT...     one chat turn through the router, streamed
 * boundless generate [--max-tokens N] TEXT... continue a prompt, streamed
 * boundless models                           list the served models
 * </pre>
 * The client commands talk to the router at BOUNDLESS_ROUTER (default 127.0.0.1:9100), with the
 * API key in BOUNDLESS_API_KEY if one is needed. BOUNDLESS_HOME (default ~/.boundless) holds the
 * local platform's model store and logs. Exit status: 0 done, 1 failed (one line says why), 2 usage.
 */
public final class Boundless {
    static final String USAGE = """
            usage: boundless up [--model PATH] [--chat-template FILE] [--replicas N] [--grpc-port P] [--http-port P] [--plaintext]
                              start the platform locally (Ctrl-C stops it); PATH: a Hugging Face model directory or a .gguf file;
                              the services talk mutual TLS with certificates of a local CA (BOUNDLESS_HOME/tls) unless --plaintext
                   boundless up --deployment FILE [--grpc-port P] [--http-port P] [--plaintext]
                              the same, running a ModelDeployment: its versions, pools, autoscaling and canary rollout
                   boundless deploy apply -f FILE               apply a ModelDeployment (a new last version starts a rollout)
                   boundless deploy events                      the deployment's events as they happen
                   boundless rollout status|promote|abort|pause|resume|set-weight N
                   boundless scale status                       replicas and the autoscaler's reasons per (version, pool)
                   boundless chat [--max-tokens N] [--temperature T] TEXT...      one chat turn through the router
                   boundless generate [--max-tokens N] [--temperature T] TEXT...  continue a prompt
                   boundless models                             list the served models
%s
                   boundless tokenize TEXT...                   encode and decode through the tokenizer
                   boundless edit trace --subject S [--target T] [--png FILE] PROMPT...   causal tracing: where the model holds a fact
                   boundless edit create [--method rome|memit|alphaedit] --prompt P --subject S --target T [--set NAME=VALUE]...
                                         [--fact 'PROMPT|SUBJECT|TARGET']... [--model VERSION|EDIT_ID]   rewrite facts (a job with progress)
                   boundless edit eval [EDIT_ID] [--cases N] [--fluency TOKENS]   CounterFact's measures (without an id: the unedited model)
                   boundless edit publish EDIT_ID [--canary] [--name VERSION]      the edit as a version <model>/<base>+<id>; its canary
                   boundless edit list|show EDIT_ID|delete EDIT_ID
                   boundless train --recipe FILE [--out DIR]    train a model: corpus, tokenizer, model, evaluation
                   boundless eval --model DIR [--per-set N]     the held-out evaluation of a trained model""".formatted(ReasonCommand.USAGE);
    static final String DEMO_CHAT = "What is the capital of France?";
    static final String DEMO_TEXT = "The capital of France is";

    /** A command line that does not parse: the message, then the usage, exit status 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>(List.of(args));
        Path root = Path.of(".");
        if (rest.size() >= 2 && rest.get(0).equals("--root")) {
            root = Path.of(rest.get(1));
            rest = new ArrayList<>(rest.subList(2, rest.size()));
        }
        String command = rest.isEmpty() ? "" : rest.remove(0);
        int code;
        try {
            code = switch (command) {
                case "up" -> up(root, rest);
                case "chat", "generate" -> text(command, rest);
                case "models" -> models();
                case "deploy", "rollout", "scale" -> Admin.run(command, rest);
                case "edit" -> EditCommand.run(rest);
                case "reason" -> ReasonCommand.run(rest);
                case "train", "eval" -> train(command, rest);
                default -> throw new UsageException(command.isEmpty() || command.equals("help") || command.equals("--help") ? null
                        : "unknown command '" + command + "'");
            };
        } catch (UsageException e) {
            if (e.getMessage() != null) {
                System.err.println("boundless " + command + ": " + e.getMessage());
            }
            System.err.println(USAGE);
            code = 2;
        }
        System.exit(code);
    }

    /**
     * boundless train / eval: the trainer runs in a JVM of its own with the Vector API (this command runs without it),
     * on this command's classpath, its output and exit status passed through.
     */
    private static int train(String command, List<String> args) throws Exception {
        Path java = Path.of(ProcessHandle.current().info().command().orElse("java"));
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx8g", "-cp", System.getProperty("java.class.path"), "io.boundless.train.TrainMain", command));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        return p.waitFor();
    }

    private static int up(Path root, List<String> args) throws Exception {
        Path model = null;
        Path template = null;
        Path deployment = null;
        int replicas = 2;
        int grpcPort = 9100;
        int httpPort = 8100;
        boolean plaintext = false;
        for (Iterator<String> it = args.iterator(); it.hasNext(); ) {
            String a = it.next();
            switch (a) {
                case "--model" -> model = Path.of(value(it, a));
                case "--chat-template" -> template = Path.of(value(it, a));
                case "--deployment" -> deployment = Path.of(value(it, a));
                case "--replicas" -> replicas = number(it, a, 1, 64);
                case "--grpc-port" -> grpcPort = number(it, a, 1, 65535 - 66);
                case "--http-port" -> httpPort = number(it, a, 1, 65535 - 66);
                case "--plaintext" -> plaintext = true;
                default -> throw new UsageException("unknown option " + a);
            }
        }
        String home = System.getenv("BOUNDLESS_HOME");
        Path work = home != null && !home.isBlank() ? Path.of(home) : Path.of(System.getProperty("user.home"), ".boundless");
        boolean builtIn = false;
        if (model == null && template == null && deployment == null) {
            // the default model runs as a built-in deployment: the same controller as any other, so rollout and scale status
            // work from the first start, and a version added with deploy apply rolls out
            deployment = defaultDeployment(work, replicas);
            builtIn = true;
        }
        LocalPlatform platform;
        try {
            platform = new LocalPlatform(new LocalPlatform.Options(root.toAbsolutePath().normalize(), work, model, replicas, grpcPort, httpPort,
                    Map.of(), Map.of(), Map.of(), template, deployment, deployment != null ? Map.of() : null, plaintext));
        } catch (ModelSource.Refused | IllegalStateException e) {
            System.err.println("boundless up: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {  // Ctrl-C, while starting or after
            System.out.println("\nstopping the platform...");
            platform.close();
            stopped.countDown();
        });
        Runtime.getRuntime().addShutdownHook(hook);
        System.out.println((deployment != null ? "starting the tokenizer and the router, which starts the deployment's replicas"
                : "starting the tokenizer, " + replicas + " inference replica" + (replicas == 1 ? "" : "s") + " and the router") + " (logs: "
                + work.resolve("logs") + ")...");
        try {
            platform.start(Duration.ofMinutes(4));
        } catch (ModelSource.Refused | IllegalStateException | IllegalArgumentException e) {
            System.err.println("boundless up: " + e.getMessage());
            platform.close();
            Runtime.getRuntime().removeShutdownHook(hook);
            return 1;
        } catch (java.io.IOException e) {
            System.err.println("boundless up: " + cannotWrite(work, e));
            platform.close();
            Runtime.getRuntime().removeShutdownHook(hook);
            return 1;
        }
        StringBuilder banner = new StringBuilder("\nBoundless is up on loopback, serving model '" + platform.modelName() + "'");
        if (builtIn) {
            banner.append(":\n  the default model, a small model (3.7M parameters) that Boundless trained on a synthetic world; it knows\n"
                    + "  only that world: countries (capitals, languages, currencies, continents), some well-known people, simple\n"
                    + "  arithmetic and last-letter puzzles (models/boundless-world/README.md). Serve a real checkpoint with:\n"
                    + "  boundless up --model /path/to/hf-model-dir\n"
                    + "  It runs as the built-in deployment " + deployment + " (bin/boundless rollout status)");
        } else if (deployment != null) {
            banner.append(" from the deployment " + deployment.toAbsolutePath().normalize()
                    + ":\n  bin/boundless rollout status shows its versions, weights and replicas");
        } else if (template != null) {
            banner.append(" with the chat template of " + template.toAbsolutePath().normalize());
        } else if (!platform.canChat()) {
            banner.append(":\n  it has no chat template (a base model): it continues text (/v1/completions, Generate, boundless generate);\n"
                    + "  chat is refused with a 400 that says so. Give it a template with: boundless up --model ... --chat-template FILE");
        }
        banner.append("\n\n");
        for (var s : platform.services()) {
            banner.append(String.format("  %-15s gRPC 127.0.0.1:%d   http://127.0.0.1:%d/q/health%n", s.name(), s.grpcPort(), s.httpPort()));
        }
        banner.append(String.format("%n  OpenAI API:  http://127.0.0.1:%d/v1   (chat/completions, completions, models)%n", platform.router().httpPort()));
        banner.append("  gRPC API:    127.0.0.1:" + platform.router().grpcPort() + "  boundless.router.v1.Router"
                + (deployment != null ? ", boundless.router.v1.Admin" : "") + "\n");
        platform.services().stream().filter(x -> x.name().equals("knowledge-edit")).findFirst().ifPresent(x -> banner.append(
                "  Knowledge edit: 127.0.0.1:" + x.grpcPort() + "  boundless.knowledge_edit.v1.KnowledgeEdit  (bin/boundless edit trace|create|publish"
                        + (x.grpcPort() == 9166 ? "" : "; BOUNDLESS_KNOWLEDGE_EDIT=127.0.0.1:" + x.grpcPort()) + ")\n"));
        banner.append("  Auth is off locally (the router's log says so).\n");
        System.out.println(banner);
        boolean chat = platform.canChat();
        String demo = chat ? DEMO_CHAT : DEMO_TEXT;
        System.out.print("boundless " + (chat ? "chat" : "generate") + " \"" + demo + "\"\n> ");
        String target = "127.0.0.1:" + platform.router().grpcPort();
        try {
            stream(target, demo, 24, chat, 0f);  // greedy: the first answer is the model's best, the same on every start
        } catch (StatusRuntimeException e) {
            // the platform stays up: the request's failure is the router's answer, said in one line
            System.out.println();
            midLine = false;
            System.err.println("the start-up request failed: " + describe(e, target));
        }
        System.out.println("\nTry: bin/boundless " + (chat ? "chat \"your question\"" : "generate \"your text\"")
                + "   — Ctrl-C stops the platform.");
        stopped.await();
        return 0;
    }

    /**
     * The built-in deployment of the default model: version v1 (boundless-world/1, the trained model of models/boundless-world) in one CPU pool of exactly replicas
     * replicas, the default rollout steps. Written into BOUNDLESS_HOME at each start.
     */
    static Path defaultDeployment(Path work, int replicas) throws java.io.IOException {
        java.nio.file.Files.createDirectories(work);
        Path file = work.resolve("default-deployment.yaml");
        java.nio.file.Files.writeString(file, """
                # Written by boundless up (the built-in deployment of the default model); boundless up --deployment FILE runs your own.
                apiVersion: boundless.io/v1alpha1
                kind: ModelDeployment
                metadata:
                  name: default
                spec:
                  model: boundless-world
                  versions:
                    - name: v1
                      source: boundless-world/1
                  pools:
                    - name: cpu
                      accelerator: cpu
                      minReplicas: %d
                      maxReplicas: %d
                """.formatted(replicas, replicas));
        return file;
    }

    private static int text(String command, List<String> args) {
        int max = 64;
        Float temperature = null;
        List<String> words = new ArrayList<>();
        for (Iterator<String> it = args.iterator(); it.hasNext(); ) {
            String a = it.next();
            if (a.equals("--max-tokens")) {
                max = number(it, a, 1, Integer.MAX_VALUE);
            } else if (a.equals("--temperature")) {
                String v = value(it, a);
                try {
                    temperature = Float.parseFloat(v);
                } catch (NumberFormatException e) {
                    throw new UsageException("--temperature takes a number from 0 to 100, not " + v);
                }
                if (!(temperature >= 0 && temperature <= 100)) {
                    throw new UsageException("--temperature takes a number from 0 to 100, not " + v);
                }
            } else {
                words.add(a);
            }
        }
        if (words.isEmpty()) {
            throw new UsageException("give the text");
        }
        String target = routerTarget();
        try {
            stream(target, String.join(" ", words), max, command.equals("chat"), temperature);
            return 0;
        } catch (StatusRuntimeException e) {
            if (midLine) {
                System.out.println();
            }
            System.err.println("boundless " + command + ": " + describe(e, target));
            return 1;
        }
    }

    private static int models() {
        String target = routerTarget();
        ManagedChannel channel = channel(target);
        try {
            for (var m : stub(channel).withDeadlineAfter(30, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance()).getModelsList()) {
                System.out.printf("%s  (%d replicas ready, context %d tokens)%n", m.getId(), m.getReadyReplicas(), m.getContextLength());
            }
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("boundless models: " + describe(e, target));
            return 1;
        } finally {
            channel.shutdownNow();
        }
    }

    static String routerTarget() {
        String t = System.getenv("BOUNDLESS_ROUTER");
        return t == null || t.isBlank() ? "127.0.0.1:9100" : t.strip();
    }

    /**
     * One line for a failed call: when nothing answers at the target (no platform), that, and how to
     * start one; else the router's status and message.
     */
    static String describe(StatusRuntimeException e, String target) {
        if (noServer(e)) {
            return "no Boundless router answers at " + target + ": start one with bin/boundless up (or set BOUNDLESS_ROUTER to where one runs)";
        }
        return e.getStatus().getCode() + ": " + e.getStatus().getDescription();
    }

    /** The call never reached a server: the connection was refused, or the host is unknown or unreachable. */
    static boolean noServer(StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
            return false;
        }
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t instanceof java.net.ConnectException || t instanceof java.net.UnknownHostException
                    || t instanceof java.nio.channels.UnresolvedAddressException || t instanceof java.net.NoRouteToHostException) {
                return true;
            }
        }
        return false;
    }

    /** Streams one chat turn (or a plain continuation) to stdout; temperature null: the router's default (1). */
    static void stream(String target, String text, int maxTokens, boolean chat, Float temperature) {
        ManagedChannel channel = channel(target);
        try {
            var stub = stub(channel).withDeadlineAfter(5, TimeUnit.MINUTES);
            String name = stub.listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getId();
            Sampling.Builder sb = Sampling.newBuilder().setMaxTokens(maxTokens);
            if (temperature != null) {
                sb.setTemperature(temperature);
            }
            Sampling sampling = sb.build();
            if (chat) {
                stub.chat(ChatRequest.newBuilder().setModel(name).addMessages(ChatMessage.newBuilder().setRole("user").setContent(text))
                        .setSampling(sampling).build()).forEachRemaining(r -> print(r.getText(), r.hasUsage() ? r.getUsage() : null));
            } else {
                stub.generate(GenerateRequest.newBuilder().setModel(name).setText(text).setSampling(sampling).build())
                        .forEachRemaining(r -> print(r.getText(), r.hasUsage() ? r.getUsage() : null));
            }
            System.out.flush();
        } finally {
            channel.shutdownNow();
        }
    }

    /** Text was printed since the last line break (a failure then starts a new line). */
    private static boolean midLine;

    private static void print(String text, io.boundless.proto.router.v1.Usage usage) {
        System.out.print(text);
        if (!text.isEmpty()) {
            midLine = !text.endsWith("\n");
        }
        if (usage != null) {
            System.out.printf("%n[%d prompt tokens (%d cached), %d generated]%n", usage.getPromptTokens(), usage.getCachedPromptTokens(), usage.getCompletionTokens());
            midLine = false;
        }
        System.out.flush();
    }

    /**
     * A file of the platform (its store, certificates, logs) could not be written or read: the file and the reason in
     * one line, and where the disk is full, how much is free where.
     */
    static String cannotWrite(Path work, java.io.IOException e) {
        String what = e instanceof java.nio.file.FileSystemException f
                ? (f.getOtherFile() != null ? "cannot copy " + f.getFile() + " to " + f.getOtherFile() : "cannot write " + f.getFile()) + ": "
                        + (f.getReason() != null ? f.getReason() : e.getClass().getSimpleName())
                : "cannot write the platform's files in " + work + ": " + e.getMessage();
        if (String.valueOf(e.getMessage()).contains("No space left on device")) {
            try {
                long free = java.nio.file.Files.getFileStore(work).getUsableSpace();
                what += " (" + (free >> 20) + " MiB free where " + work + " is; the platform needs about 100 MiB there: free some, or set"
                        + " BOUNDLESS_HOME to a disk with room)";
            } catch (java.io.IOException ignored) {
                // the store's figures are not to be had: the reason is said already
            }
        }
        return what;
    }

    static ManagedChannel channel(String target) {
        return ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    }

    /**
     * A channel to one of the platform's inner services (knowledge-edit): mutual TLS with the certificate of
     * BOUNDLESS_TLS_CERT / _KEY / _CA, or the one {@code boundless up} issued this CLI (BOUNDLESS_HOME/tls/cli.*);
     * plaintext where neither is there (a platform started with --plaintext).
     */
    static ManagedChannel peerChannel(String target) {
        return io.boundless.proto.tls.PeerTls.channelBuilder(io.boundless.proto.tls.PeerTls.ofClientEnvironment(), target).build();
    }

    private static RouterGrpc.RouterBlockingStub stub(ManagedChannel channel) {
        return withKey(RouterGrpc.newBlockingStub(channel));
    }

    /** The stub with BOUNDLESS_API_KEY as its bearer token, if one is set. */
    static <S extends io.grpc.stub.AbstractStub<S>> S withKey(S stub) {
        String key = System.getenv("BOUNDLESS_API_KEY");
        if (key != null && !key.isEmpty()) {
            Metadata m = new Metadata();
            m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
        }
        return stub;
    }

    static String value(Iterator<String> it, String option) {
        if (!it.hasNext()) {
            throw new UsageException(option + " needs a value");
        }
        return it.next();
    }

    static int number(Iterator<String> it, String option, int min, int max) {
        String v = value(it, option);
        try {
            int n = Integer.parseInt(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new UsageException(option + " takes a whole number from " + min + (max == Integer.MAX_VALUE ? "" : " to " + max) + ", not '" + v + "'");
    }

    private Boundless() {}
}
