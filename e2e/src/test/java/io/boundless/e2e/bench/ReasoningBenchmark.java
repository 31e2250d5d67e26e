package io.boundless.e2e.bench;

import io.boundless.cli.LocalPlatform;
import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.ChatRequest;
import io.boundless.proto.router.v1.EarlyStopping;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasonResponse;
import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningPath;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SubanswerContext;
import io.boundless.train.Corpus;
import io.boundless.train.World;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The reasoning strategies on the default model's held-out problems (the training issue's evaluation sets:
 * arithmetic word problems of 1 to 3 steps, last-letter puzzles of 2 to 5 words), through the Reason RPC of a
 * running platform (boundless up's processes, 2 replicas): accuracy per strategy and size, tokens generated
 * per problem, prompt tokens served from the prefix cache per problem. Self-consistency samples 40 paths
 * once per problem; its accuracy at k = 5, 10 and 20 is the mean over 20 random subsets of k of those paths
 * (as Wang et al. average over runs), majority and weighted. The peer: the same 40 paths asked as a client
 * does it without the router's strategy, 40 chat requests, on the same platform in the same run.
 *
 * <p>facts: questions the model answers surely (facts in trained phrasings), where early stopping should end
 * self-consistency after few paths.
 *
 * <pre>java ... io.boundless.e2e.bench.ReasoningBenchmark &lt;repo root&gt; [problems per size, default 30] [arithmetic,letters,facts,peer]</pre>
 */
public final class ReasoningBenchmark {
    private static final int GRPC = 19450;
    private static final int HTTP = 18450;
    private static final String MODEL = "boundless-world";
    private static final AnswerParser NUMBER = AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER).build();
    private static final AnswerParser LETTERS = AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_REGEX)
            .setPattern("The answer is \"([^\"]*)\"").build();
    private static final Pattern PROBLEM = Pattern.compile("(\\w+) has (\\d+) (\\w+)\\. (He|She) (.+)\\. How many \\w+ does \\w+ have now\\?");

    private static RouterGrpc.RouterBlockingStub router;

    /** One figure row: problems solved, tokens generated and prompt tokens from the cache, summed over problems. */
    static final class Row {
        int problems;
        int correct;
        long generated;
        long cached;
        long prompt;
        long drawn;
        long saved;
        /** Fractional problems solved (self-consistency's mean over subsets). */
        double partial;

        synchronized void add(boolean ok, ReasonResult r) {
            problems++;
            correct += ok ? 1 : 0;
            generated += r.getUsage().getCompletionTokens();
            cached += r.getUsage().getCachedPromptTokens();
            prompt += r.getUsage().getPromptTokens();
            drawn += r.getSamplesDrawn();
            saved += r.getSamplesSaved();
        }

        double accuracy() {
            return problems == 0 ? 0 : 100.0 * correct / problems;
        }
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        int perSet = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        java.util.Set<String> parts = java.util.Set.of((args.length > 2 ? args[2] : "arithmetic,letters,facts,peer").split(","));
        System.out.printf("# machine: %d cores; %s; %d problems per size%n", Runtime.getRuntime().availableProcessors(), java.time.LocalDate.now(), perSet);
        Path work = root.resolve("e2e/target/bench-reasoning");
        Files.createDirectories(work);
        List<Corpus.Probe> probes = new Corpus(World.standard(), Corpus.Mix.standard()).evaluation(perSet, 20261202L);
        long started = System.nanoTime();
        try (LocalPlatform p = new LocalPlatform(new LocalPlatform.Options(root, work, root.resolve("models/boundless-world"), 2, GRPC, HTTP,
                Map.of("BOUNDLESS_ROUTER_REQUEST_TIMEOUT", "600s"), Map.of(), Map.of()))) {
            p.start(Duration.ofMinutes(4));
            ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", GRPC).usePlaintext().maxInboundMessageSize(64 << 20).build();
            router = RouterGrpc.newBlockingStub(ch);
            if (parts.contains("arithmetic")) {
                arithmetic(probes);
            }
            if (parts.contains("letters")) {
                letters(probes);
            }
            if (parts.contains("facts")) {
                facts(probes, perSet);
            }
            if (parts.contains("peer")) {
                peer(probes);
            }
            ch.shutdownNow();
        }
        System.out.printf("%n# done in %.0f s%n", (System.nanoTime() - started) / 1e9);
        System.exit(0);
    }

    static ReasonResult reason(ReasonRequest.Builder r) {
        ReasonResult out = null;
        for (var it = router.withDeadlineAfter(10, TimeUnit.MINUTES).reason(r.setModel(MODEL).build()); it.hasNext(); ) {
            ReasonResponse m = it.next();
            if (m.hasResult()) {
                out = m.getResult();
            }
        }
        return out;
    }

    /** Runs f over the items 4 at a time (both replicas busy), in order of the items. */
    static <T> void each(List<T> items, java.util.function.Consumer<T> f) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<?>> fs = new ArrayList<>();
        for (T t : items) {
            fs.add(pool.submit(() -> f.accept(t)));
        }
        for (Future<?> x : fs) {
            x.get();
        }
        pool.shutdown();
    }

    // ---------------------------------------------------------------- arithmetic

    record Arith(String bare, String expected, int steps) {}

    static void arithmetic(List<Corpus.Probe> probes) throws Exception {
        List<Arith> problems = probes.stream().filter(p -> p.set().equals("arithmetic-direct"))
                .map(p -> new Arith(p.question().replace(" " + Corpus.DIRECT_TRIGGER, ""), p.expected(), p.size())).toList();
        Map<String, Row[]> rows = new LinkedHashMap<>();
        Function<String, Row[]> row = name -> rows.computeIfAbsent(name, k -> new Row[] {new Row(), new Row(), new Row()});
        long t0 = System.nanoTime();
        each(problems, a -> {
            Row[] r;
            ReasonResult d = reason(ReasonRequest.newBuilder().setQuestion(a.bare + " " + Corpus.DIRECT_TRIGGER).setStrategy(ReasoningStrategy.REASONING_STRATEGY_DIRECT)
                    .setParser(NUMBER));
            row.apply("direct (\"Answer with just the number.\")")[a.steps - 1].add(d.getAnswer().equals(a.expected), d);
            ReasonResult z = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setParser(NUMBER));
            row.apply("zero-shot CoT (greedy)")[a.steps - 1].add(z.getAnswer().equals(a.expected), z);
            ReasonResult f = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT)
                    .setExemplarSet("arithmetic"));
            row.apply("few-shot CoT (3 exemplars, greedy)")[a.steps - 1].add(f.getAnswer().equals(a.expected), f);
            ReasonResult s = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)
                    .setParser(NUMBER).setN(40).setSampling(Sampling.newBuilder().setTemperature(0.7f).setSeed(a.bare.hashCode())));
            subsets(row, "majority, T 0.7", s, a, false);
            subsets(row, "weighted, T 0.7", s, a, true);
            for (float t : new float[] {0.5f, 0.3f}) {
                ReasonResult st = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)
                        .setParser(NUMBER).setN(40).setSampling(Sampling.newBuilder().setTemperature(t).setSeed(a.bare.hashCode() + 7)));
                subsets(row, "majority, T " + t, st, a, false);
            }
            ReasonResult e = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)
                    .setParser(NUMBER).setN(40).setParallel(5).setEarlyStopping(EarlyStopping.newBuilder().setWhenDecided(true))
                    .setSampling(Sampling.newBuilder().setTemperature(0.7f).setSeed(a.bare.hashCode() + 1)));
            row.apply("self-consistency 40, T 0.7, stop when decided (generations of 5)")[a.steps - 1].add(e.getAnswer().equals(a.expected), e);
            ReasonResult c = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)
                    .setParser(NUMBER).setN(40).setParallel(5).setEarlyStopping(EarlyStopping.newBuilder().setConfidence(0.5f).setMinSamples(10))
                    .setSampling(Sampling.newBuilder().setTemperature(0.7f).setSeed(a.bare.hashCode() + 2)));
            row.apply("self-consistency 40, T 0.7, stop at 50% after 10")[a.steps - 1].add(c.getAnswer().equals(a.expected), c);
            List<String> subs = steps(a.bare);
            ReasonResult l = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST)
                    .setParser(NUMBER).addAllSubquestions(subs).setTrigger(Corpus.COT_TRIGGER).setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS));
            row.apply("least-to-most (one step per sub-question, greedy)")[a.steps - 1].add(l.getAnswer().equals(a.expected), l);
            ReasonResult ls = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST)
                    .setParser(NUMBER).addAllSubquestions(subs).setTrigger(Corpus.COT_TRIGGER).setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS)
                    .setN(5).setSampling(Sampling.newBuilder().setTemperature(0.7f).setSeed(a.bare.hashCode() + 3)));
            row.apply("least-to-most + self-consistency 5 per sub-question, T 0.7")[a.steps - 1].add(ls.getAnswer().equals(a.expected), ls);
            ReasonResult lc = reason(ReasonRequest.newBuilder().setQuestion(a.bare).setStrategy(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST)
                    .setParser(NUMBER).addAllSubquestions(subs).setTrigger(Corpus.COT_TRIGGER).setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS)
                    .setN(5).setSampling(Sampling.newBuilder().setTemperature(0.3f).setSeed(a.bare.hashCode() + 4)));
            row.apply("least-to-most + self-consistency 5 per sub-question, T 0.3")[a.steps - 1].add(lc.getAnswer().equals(a.expected), lc);
        });
        System.out.printf("%n## Arithmetic word problems (held out), %d per step count, in %.0f s%n%n", problems.size() / 3, (System.nanoTime() - t0) / 1e9);
        table(rows, List.of("1 step", "2 steps", "3 steps"));
    }

    /** The sub-questions of a problem, one per step, each starting from the answer before it ({1}, {2}). */
    static List<String> steps(String bare) {
        Matcher m = PROBLEM.matcher(bare);
        if (!m.matches()) {
            throw new IllegalStateException("not a problem of the corpus's form: " + bare);
        }
        String name = m.group(1);
        String item = m.group(3);
        String pron = m.group(4);
        String[] parts = m.group(5).split(", and then |, then | and then ");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            String start = i == 0 ? m.group(2) : "{" + i + "}";
            out.add(name + " has " + start + " " + item + ". " + pron + " " + parts[i] + ". How many " + item + " does " + name + " have now?");
        }
        return out;
    }

    /** SC@k for k = 5, 10, 20 (mean over 20 random subsets of the 40 paths) and @40 (all), by majority or weighted vote. */
    static void subsets(Function<String, Row[]> row, String rule, ReasonResult s, Arith a, boolean weighted) {
        List<ReasoningPath> paths = s.getPathsList();
        SplittableRandom rnd = new SplittableRandom(a.bare.hashCode());
        for (int k : new int[] {5, 10, 20, 40}) {
            int trials = k == paths.size() ? 1 : 20;
            double right = 0;
            for (int t = 0; t < trials; t++) {
                List<ReasoningPath> pick = new ArrayList<>(paths);
                for (int i = pick.size() - 1; i > 0; i--) {
                    int j = rnd.nextInt(i + 1);
                    var x = pick.get(i);
                    pick.set(i, pick.get(j));
                    pick.set(j, x);
                }
                right += a.expected.equals(vote(pick.subList(0, Math.min(k, pick.size())), weighted)) ? 1 : 0;
            }
            Row r = row.apply("self-consistency " + k + ", " + rule)[a.steps - 1];
            synchronized (r) {
                r.problems++;
                r.partial += right / trials;
                r.generated += (long) (s.getUsage().getCompletionTokens() * (double) k / paths.size());
                r.cached += k == 40 ? s.getUsage().getCachedPromptTokens() : (long) (s.getUsage().getCachedPromptTokens() * (double) k / paths.size());
                r.prompt += (long) (s.getUsage().getPromptTokens() * (double) k / paths.size());
                r.drawn += k;
            }
        }
    }

    static String vote(List<ReasoningPath> paths, boolean weighted) {
        Map<String, Double> score = new LinkedHashMap<>();
        for (ReasoningPath p : paths) {
            if (!p.getAnswer().isEmpty()) {
                score.merge(p.getAnswer(), weighted ? p.getWeight() : 1.0, Double::sum);
            }
        }
        String best = null;
        for (var e : score.entrySet()) {
            if (best == null || e.getValue() > score.get(best)) {
                best = e.getKey();
            }
        }
        return best;
    }

    // ---------------------------------------------------------------- last letters

    static void letters(List<Corpus.Probe> probes) throws Exception {
        List<Corpus.Probe> problems = probes.stream().filter(p -> p.set().equals("decomposition")).toList();
        Map<String, Row[]> rows = new LinkedHashMap<>();
        Function<String, Row[]> row = name -> rows.computeIfAbsent(name, k -> new Row[] {new Row(), new Row(), new Row(), new Row()});
        long t0 = System.nanoTime();
        each(problems, p -> {
            int at = p.size() - 2;
            Function<ReasonResult, Boolean> ok = r -> r.getAnswer().replace(" ", "").equals(p.expected());
            ReasonResult d = reason(ReasonRequest.newBuilder().setQuestion(p.question()).setStrategy(ReasoningStrategy.REASONING_STRATEGY_DIRECT).setParser(LETTERS));
            row.apply("as trained (its answer is built word by word: CoT)")[at].add(ok.apply(d), d);
            ReasonResult f = reason(ReasonRequest.newBuilder().setQuestion(p.question()).setStrategy(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT)
                    .setExemplarSet("last-letters"));
            row.apply("few-shot CoT (2 exemplars)")[at].add(ok.apply(f), f);
            // the question as trained (no trigger: the puzzle's own answer is its chain of thought), 10 paths voted
            ReasonResult s = reason(ReasonRequest.newBuilder().setQuestion(p.question()).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)
                    .setParser(LETTERS).setN(10).setNoTrigger(true)
                    .setSampling(Sampling.newBuilder().setTemperature(0.7f).setSeed(p.question().hashCode())));
            row.apply("self-consistency 10")[at].add(ok.apply(s), s);
            Matcher m = Pattern.compile("\"([^\"]+)\"").matcher(p.question());
            m.find();
            String[] words = m.group(1).split(" ");
            ReasonRequest.Builder l2m = ReasonRequest.newBuilder().setQuestion(p.question()).setStrategy(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST)
                    .setParser(LETTERS);
            for (int k = 2; k <= words.length; k++) {
                l2m.addSubquestions(Corpus.lastLettersQuestion(java.util.Arrays.copyOf(words, k)));
            }
            ReasonResult l = reason(l2m);
            row.apply("least-to-most (growing word lists, earlier answers as turns)")[at].add(ok.apply(l), l);
        });
        System.out.printf("%n## Last-letter concatenation (held out), %d per length, in %.0f s%n%n", problems.size() / 4, (System.nanoTime() - t0) / 1e9);
        table(rows, List.of("2 words", "3 words", "4 words", "5 words"));
    }

    // ---------------------------------------------------------------- facts: early stopping where the model is sure

    static void facts(List<Corpus.Probe> probes, int count) throws Exception {
        List<Corpus.Probe> facts = probes.stream().filter(p -> p.set().equals("facts-trained")).limit(count).toList();
        AnswerParser last = AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_REGEX).setPattern("([^ .]+)\\.?\\s*$").build();
        Map<String, Row[]> rows = new LinkedHashMap<>();
        Function<String, Row[]> row = name -> rows.computeIfAbsent(name, k -> new Row[] {new Row()});
        long t0 = System.nanoTime();
        each(facts, p -> {
            ReasonRequest.Builder base = ReasonRequest.newBuilder().setQuestion(p.question()).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY)
                    .setParser(last).setN(20).setNoTrigger(true).setSampling(Sampling.newBuilder().setTemperature(0.7f).setSeed(p.question().hashCode()));
            // right when a path that gave the winning answer names the fact's object (Corpus.correct's rule)
            Function<ReasonResult, Boolean> ok = r -> r.getPathsList().stream().anyMatch(x -> x.getAnswer().equals(r.getAnswer())
                    && Corpus.correct(p, x.getText()));
            ReasonResult all = reason(base.clone());
            row.apply("self-consistency 20 (one generation)")[0].add(ok.apply(all), all);
            ReasonResult decided = reason(base.clone().setParallel(5).setEarlyStopping(EarlyStopping.newBuilder().setWhenDecided(true)));
            row.apply("self-consistency 20, stop when decided (generations of 5)")[0].add(ok.apply(decided), decided);
            ReasonResult sure = reason(base.clone().setParallel(5).setEarlyStopping(EarlyStopping.newBuilder().setConfidence(0.8f).setMinSamples(5)));
            row.apply("self-consistency 20, stop at 80% after 5 (generations of 5)")[0].add(ok.apply(sure), sure);
        });
        System.out.printf("%n## Facts in trained phrasings (the model is sure), %d questions, in %.0f s%n%n", facts.size(), (System.nanoTime() - t0) / 1e9);
        table(rows, List.of("correct"));
    }

    // ---------------------------------------------------------------- the peer: a client's self-consistency

    static void peer(List<Corpus.Probe> probes) throws Exception {
        List<String> qs = probes.stream().filter(p -> p.set().equals("arithmetic-direct") && p.size() == 2).limit(10)
                .map(p -> p.question().replace(" " + Corpus.DIRECT_TRIGGER, "") + " " + Corpus.COT_TRIGGER).toList();
        long routerTokens = 0;
        long routerCached = 0;
        long routerPrompt = 0;
        long t0 = System.nanoTime();
        for (String q : qs) {
            ReasonResult r = reason(ReasonRequest.newBuilder().setQuestion(q).setStrategy(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER)
                    .setN(40));
            routerTokens += r.getUsage().getCompletionTokens();
            routerCached += r.getUsage().getCachedPromptTokens();
            routerPrompt += r.getUsage().getPromptTokens();
        }
        double routerSeconds = (System.nanoTime() - t0) / 1e9;
        long clientTokens = 0;
        long clientCached = 0;
        long clientPrompt = 0;
        ExecutorService pool = Executors.newFixedThreadPool(16);
        t0 = System.nanoTime();
        for (String q : qs) {
            List<Future<long[]>> fs = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                fs.add(pool.submit(() -> {
                    long[] u = new long[3];
                    router.withDeadlineAfter(5, TimeUnit.MINUTES).chat(ChatRequest.newBuilder().setModel(MODEL)
                            .addMessages(ChatMessage.newBuilder().setRole("user").setContent(q)).setSampling(Sampling.newBuilder().setTemperature(0.7f).setMaxTokens(256))
                            .build()).forEachRemaining(c -> {
                                if (c.hasUsage()) {
                                    u[0] = c.getUsage().getCompletionTokens();
                                    u[1] = c.getUsage().getCachedPromptTokens();
                                    u[2] = c.getUsage().getPromptTokens();
                                }
                            });
                    return u;
                }));
            }
            for (var f : fs) {
                long[] u = f.get();
                clientTokens += u[0];
                clientCached += u[1];
                clientPrompt += u[2];
            }
        }
        double clientSeconds = (System.nanoTime() - t0) / 1e9;
        pool.shutdown();
        System.out.printf("%n## Self-consistency of 40 paths on %d two-step problems: the router's strategy against a client's 40 chat requests%n%n", qs.size());
        System.out.println("| | wall time | prompt tokens | of them from the prefix cache | prompt tokens computed | tokens generated |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        System.out.printf(Locale.ROOT, "| Reason (n = 40: generations of 16, 16 and 8) | %.1f s | %,d | %,d | %,d | %,d |%n", routerSeconds, routerPrompt, routerCached,
                routerPrompt - routerCached, routerTokens);
        System.out.printf(Locale.ROOT, "| 40 chat requests per problem, 16 at a time | %.1f s | %,d | %,d | %,d | %,d |%n", clientSeconds, clientPrompt, clientCached,
                clientPrompt - clientCached, clientTokens);
        System.out.printf(Locale.ROOT, "| ratio Reason / client | %.2fx | | | %.2fx | |%n", routerSeconds / clientSeconds,
                (double) (routerPrompt - routerCached) / Math.max(1, clientPrompt - clientCached));
    }

    // ---------------------------------------------------------------- output

    static void table(Map<String, Row[]> rows, List<String> sizes) {
        StringBuilder h = new StringBuilder("| strategy |");
        StringBuilder sep = new StringBuilder("|---|");
        for (String s : sizes) {
            h.append(' ').append(s).append(" |");
            sep.append("---:|");
        }
        h.append(" tokens generated / problem | prompt tokens from the cache / problem | paths drawn / problem |");
        sep.append("---:|---:|---:|");
        System.out.println(h);
        System.out.println(sep);
        for (var e : rows.entrySet()) {
            StringBuilder line = new StringBuilder("| " + e.getKey() + " |");
            long gen = 0;
            long cached = 0;
            long drawn = 0;
            int n = 0;
            for (Row r : e.getValue()) {
                double acc = r.problems == 0 ? 0 : 100.0 * (r.correct + r.partial) / r.problems;
                line.append(String.format(Locale.ROOT, " %.1f%% |", acc));
                gen += r.generated;
                cached += r.cached;
                drawn += r.drawn;
                n += r.problems;
            }
            line.append(String.format(Locale.ROOT, " %.0f | %.0f | %s |", (double) gen / n, (double) cached / n, drawn == 0 ? "1" : String.format(Locale.ROOT, "%.1f",
                    (double) drawn / n)));
            System.out.println(line);
        }
    }
}
