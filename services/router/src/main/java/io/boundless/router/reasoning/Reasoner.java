package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.Exemplar;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningPath;
import io.boundless.proto.router.v1.ReasoningStage;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.Usage;
import io.boundless.proto.router.v1.VoteCount;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Runs one {@link Plan}: its strategy as a plain sequence of model calls on a virtual thread, each call a
 * {@link Generator} generation whose events arrive through a queue. Self-consistency samples its n paths in
 * generations of {@code parallel} samples (one generation's samples share the prompt's KV blocks; the next
 * finds the prompt in the replica's prefix cache), votes each path as it ends, and stops, cancelling what
 * still runs, once early stopping says the vote is settled. {@link #cancel()} cancels every running
 * generation. Events reach the sink from this thread only, so the gRPC and HTTP adapters need no locking.
 */
public final class Reasoner {
    private static final Logger LOG = Logger.getLogger(Reasoner.class);
    private static final long SEED_STEP = 0x9E3779B97F4A7C15L;

    /** What one finished request did, for metrics. */
    public record Outcome(String strategy, String status, int drawn, int saved, int cachedPromptTokens, int completionTokens, double confidence,
            boolean voted) {}

    /** Told once when the request ends, however it ends. */
    public interface Observer {
        void ended(Outcome outcome);
    }

    private final Plan plan;
    private final Generator gen;
    private final ReasoningSink sink;
    private final Observer observer;
    private final String strategy;
    private volatile boolean cancelled;
    private volatile Generator.Run running;
    private volatile Thread thread;
    private final Object lock = new Object();

    // the request's figures
    private int promptTokens;
    private int cachedTokens;
    private int completionTokens;
    private int drawn;
    private int saved;
    private String stoppedBecause = "";
    private int stageIndex;
    private final List<ReasoningPath> paths = new ArrayList<>();

    public Reasoner(Plan plan, Generator gen, ReasoningSink sink, Observer observer) {
        this.plan = plan;
        this.gen = gen;
        this.sink = sink;
        this.observer = observer;
        this.strategy = Plan.name(plan.strategy());
    }

    /** Starts the request on its own virtual thread; returns at once. */
    public Reasoner start() {
        thread = Thread.ofVirtual().name("reason-" + strategy).start(this::run);
        return this;
    }

    /** The client went away: every running generation is cancelled and nothing more reaches the sink. */
    public void cancel() {
        cancelled = true;
        synchronized (lock) {
            Generator.Run r = running;
            if (r != null) {
                r.cancel();
            }
        }
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    /** Waits for the request to end (tests and the HTTP adapter's shutdown). */
    public boolean join(long millis) throws InterruptedException {
        Thread t = thread;
        return t == null || t.join(java.time.Duration.ofMillis(millis));
    }

    /** Thrown inside the thread when the client cancelled. */
    private static final class Cancelled extends RuntimeException {
        Cancelled() {
            super("cancelled", null, false, false);
        }
    }

    private void run() {
        ReasonResult result;
        try {
            result = switch (plan.strategy()) {
                case REASONING_STRATEGY_ZERO_SHOT_COT -> zeroShot();
                case REASONING_STRATEGY_FEW_SHOT_COT -> single("answer", fewShot(plan.question()), plan.question());
                case REASONING_STRATEGY_SELF_CONSISTENCY -> selfConsistency();
                case REASONING_STRATEGY_LEAST_TO_MOST -> leastToMost();
                default -> single("answer", chat(plan.question()), plan.question());
            };
        } catch (Cancelled e) {
            end("cancelled", 0, false);
            return;
        } catch (StatusRuntimeException e) {
            if (cancelled) {
                end("cancelled", 0, false);
                return;
            }
            end(e.getStatus().getCode().name().toLowerCase(java.util.Locale.ROOT), 0, false);
            sink.error(e);
            return;
        } catch (RuntimeException e) {
            if (cancelled) {
                end("cancelled", 0, false);
                return;
            }
            LOG.error("reasoning request failed", e);
            end("internal", 0, false);
            sink.error(Status.INTERNAL.withDescription("internal error (" + e.getClass().getSimpleName() + "); see the router's log").asRuntimeException());
            return;
        }
        if (cancelled) {
            end("cancelled", 0, false);
            return;
        }
        end("ok", result.getConfidence(), result.getVotesCount() > 0);
        sink.result(result);
    }

    private void end(String status, double confidence, boolean voted) {
        if (observer != null) {
            observer.ended(new Outcome(strategy, status, drawn, saved, cachedTokens, completionTokens, confidence, voted));
        }
    }

    // ---- prompts

    /** The context, then the user's message. */
    private Generator.Prompt chat(String user) {
        List<ChatMessage> m = new ArrayList<>(plan.context());
        m.add(message("user", user));
        return gen.chat(m);
    }

    /** The context, the worked examples as earlier turns, then the question. */
    private Generator.Prompt fewShot(String question) {
        List<ChatMessage> m = new ArrayList<>(plan.context());
        for (Exemplar e : plan.exemplars()) {
            if (!e.getRationale().isBlank()) {
                m.add(message("user", e.getQuestion()));
                m.add(message("assistant", e.getRationale()));
            }
        }
        m.add(message("user", question));
        return gen.chat(m);
    }

    private static ChatMessage message(String role, String content) {
        return ChatMessage.newBuilder().setRole(role).setContent(content).build();
    }

    // ---- strategies

    /** One greedy (or as sampled) answer to one prompt, reported as one stage. */
    private ReasonResult single(String kind, Generator.Prompt prompt, String question) {
        Text t = once(prompt, plan.sampling());
        String answer = answer(t.text);
        stage(kind, question, t, answer);
        return result(answer).build();
    }

    /** Kojima et al.: reasoning after the trigger, then (when needed) the answer prompt after the reasoning. */
    private ReasonResult zeroShot() {
        String q = Plan.withTrigger(plan.question(), plan.trigger());
        Generator.Prompt prompt = chat(q);
        Text reasoning = once(prompt, plan.sampling());
        String parsed = plan.parser() == null ? null : plan.parser().parse(reasoning.text);
        stage("reason", q, reasoning, parsed);
        if (parsed != null) {
            return result(parsed).build();
        }
        Generator.Prompt extraction = gen.extend(prompt, reasoning.text.stripTrailing() + " " + plan.answerPrompt());
        Sampling s = plan.sampling().toBuilder().setMaxTokens(Math.min(Plan.EXTRACT_TOKENS, plan.sampling().getMaxTokens())).setTemperature(0).build();
        Text extracted = once(extraction, s);
        String answer = answer(extracted.text);
        stage("extract", plan.answerPrompt(), extracted, answer);
        return result(answer).build();
    }

    /** Wang et al.: n paths, voted. */
    private ReasonResult selfConsistency() {
        String q = Plan.withTrigger(plan.question(), plan.trigger());
        boolean fewShot = plan.exemplars().stream().anyMatch(e -> !e.getRationale().isBlank());
        Generator.Prompt prompt = fewShot ? fewShot(q) : chat(q);
        Voted v = vote(prompt, 0, plan.n());
        return result(v.tally.leader()).setConfidence(v.tally.confidence()).addAllVotes(v.tally.counts()).build();
    }

    /** Zhou et al.: decompose (or take the request's sub-questions), then answer them in order. */
    private ReasonResult leastToMost() {
        List<String> subs = plan.subquestions();
        if (subs.isEmpty()) {
            subs = decompose();
        }
        List<String> asked = new ArrayList<>();
        List<String> answers = new ArrayList<>();
        List<ChatMessage> transcript = new ArrayList<>(plan.context());
        List<VoteCount> lastVotes = List.of();
        double confidence = 0;
        for (String sub : subs) {
            String q = Plan.withTrigger(Plan.fill(sub, answers), plan.trigger());
            List<ChatMessage> m = new ArrayList<>(plan.transcript() ? transcript : plan.context());
            m.add(message("user", q));
            Generator.Prompt prompt = gen.chat(m);
            String answer;
            String text;
            if (plan.n() > 1) {
                int at = stageIndex;
                Voted v = vote(prompt, at, plan.n());
                answer = v.tally.leader();
                text = v.best == null ? "" : v.best.getText();
                lastVotes = v.tally.counts();
                confidence = v.tally.confidence();
                stage("subquestion", q, new Text(text, v.usage.getCompletionTokens(), v.usage), answer);
            } else {
                Text t = once(prompt, plan.sampling());
                text = t.text;
                answer = answer(t.text);
                confidence = answer == null ? 0 : 1;
                stage("subquestion", q, t, answer);
            }
            String shown = answer == null ? text.strip() : answer;
            asked.add(q);
            answers.add(shown);
            transcript.add(message("user", q));
            transcript.add(message("assistant", text.strip()));
        }
        String last = answers.isEmpty() ? null : answers.get(answers.size() - 1);
        return result(last).setConfidence(plan.n() > 1 ? confidence : last == null ? 0 : 1).addAllVotes(lastVotes).addAllSubquestions(asked)
                .addAllSubanswers(answers).build();
    }

    /** The model's decomposition: decomposition exemplars as earlier turns, one sub-question per line; the question itself comes last. */
    private List<String> decompose() {
        String instruction = "Break the problem into simpler questions, one per line, the last being the problem itself.\n";
        List<ChatMessage> m = new ArrayList<>(plan.context());
        for (Exemplar e : plan.exemplars()) {
            if (e.getSubquestionsCount() > 0) {
                m.add(message("user", instruction + e.getQuestion()));
                m.add(message("assistant", String.join("\n", e.getSubquestionsList())));
            }
        }
        m.add(message("user", instruction + plan.question()));
        Sampling greedy = plan.sampling().toBuilder().setTemperature(0).build();
        Text t = once(gen.chat(m), greedy);
        List<String> subs = new ArrayList<>(Plan.decomposition(t.text));
        if (subs.isEmpty() || !subs.get(subs.size() - 1).strip().equals(plan.question().strip())) {
            if (subs.size() == Plan.MODEL_SUBQUESTIONS) {
                subs.remove(subs.size() - 1);
            }
            subs.add(plan.question());
        }
        stage("decompose", plan.question(), t, String.join("\n", subs));
        return subs;
    }

    // ---- generations

    /** One generated text with its figures. */
    private record Text(String text, int tokens, Usage usage) {}

    /** Events of one generation, in the order they came. */
    private record PathEvent(int index, String text, int tokens, double logprobSum, FinishReason finish) {}

    private record Done(Usage usage) {}

    private record Failed(StatusRuntimeException error) {}

    private Generator.Run launch(Generator.Prompt prompt, Sampling sampling, int n, LinkedBlockingQueue<Object> q) {
        synchronized (lock) {
            if (cancelled) {
                throw new Cancelled();
            }
            Generator.Run r = gen.start(prompt, sampling, n, new Generator.Listener() {
                @Override
                public void path(int index, String text, int tokens, double logprobSum, FinishReason finish) {
                    q.add(new PathEvent(index, text, tokens, logprobSum, finish));
                }

                @Override
                public void done(Usage usage) {
                    q.add(new Done(usage));
                }

                @Override
                public void failed(StatusRuntimeException error) {
                    q.add(new Failed(error));
                }
            });
            running = r;
            return r;
        }
    }

    private Object take(LinkedBlockingQueue<Object> q) {
        try {
            while (true) {
                Object e = q.poll(1, TimeUnit.SECONDS);
                if (cancelled) {
                    throw new Cancelled();
                }
                if (e != null) {
                    return e;
                }
            }
        } catch (InterruptedException e) {
            throw new Cancelled();
        }
    }

    private void count(Usage u) {
        promptTokens += u.getPromptTokens();
        cachedTokens += u.getCachedPromptTokens();
        completionTokens += u.getCompletionTokens();
    }

    /** One sample of a prompt, to its end. */
    private Text once(Generator.Prompt prompt, Sampling sampling) {
        LinkedBlockingQueue<Object> q = new LinkedBlockingQueue<>();
        launch(prompt, sampling, 1, q);
        String text = "";
        int tokens = 0;
        while (true) {
            Object e = take(q);
            if (e instanceof PathEvent p) {
                text = p.text();
                tokens = p.tokens();
            } else if (e instanceof Done d) {
                count(d.usage());
                return new Text(text, tokens, d.usage());
            } else if (e instanceof Failed f) {
                throw f.error();
            }
        }
    }

    /** A vote's state at its end: the tally, the winner's best path, the vote's generations' token counts. */
    private record Voted(Tally tally, ReasoningPath best, Usage usage) {}

    /**
     * Samples up to n paths of one prompt in generations of plan.parallel(), votes each as it ends, and stops
     * early once the plan's rule says the vote is settled.
     */
    private Voted vote(Generator.Prompt prompt, int stage, int n) {
        Tally tally = new Tally(plan.weighted());
        List<ReasoningPath> mine = new ArrayList<>();
        Usage.Builder usage = Usage.newBuilder();  // this vote's generations together
        int started = 0;
        int voted = 0;
        int wave = 0;
        String stop = null;
        while (started < n && stop == null) {
            int k = Math.min(plan.parallel(), n - started);
            Sampling s = plan.sampling();
            if (s.hasSeed() && wave > 0) {
                s = s.toBuilder().setSeed(s.getSeed() + wave * SEED_STEP).build();  // the same seed would draw the same paths again
            }
            LinkedBlockingQueue<Object> q = new LinkedBlockingQueue<>();
            Generator.Run run = launch(prompt, s, k, q);
            started += k;
            wave++;
            int ended = 0;
            Usage spent = null;
            while (spent == null) {
                Object e = take(q);
                if (e instanceof PathEvent p) {
                    ended++;
                    voted++;
                    String answer = plan.parser().parse(p.text());
                    double weight = p.tokens() == 0 ? 0 : Math.exp(p.logprobSum() / p.tokens());
                    tally.add(answer, weight);
                    ReasoningPath path = ReasoningPath.newBuilder().setIndex(paths.size()).setStage(stage).setText(p.text())
                            .setAnswer(answer == null ? "" : answer).setWeight(weight).setTokens(p.tokens()).setFinishReason(p.finish()).build();
                    paths.add(path);
                    mine.add(path);
                    drawn++;
                    sink.path(path);
                    stop = settled(tally, n - voted);
                    if (stop != null) {
                        int generated = run.tokens();
                        run.stop();  // the paths still running end here: their blocks are freed
                        saved += n - voted;
                        stoppedBecause = stop;
                        spent = Usage.newBuilder().setPromptTokens(prompt.ids().length).setCompletionTokens(generated).build();
                    }
                } else if (e instanceof Done d) {
                    spent = d.usage();
                    if (ended < k) {
                        throw Status.INTERNAL.withDescription("a generation of " + k + " paths ended after " + ended).asRuntimeException();
                    }
                } else if (e instanceof Failed f) {
                    throw f.error();
                }
            }
            count(spent);
            usage.setPromptTokens(usage.getPromptTokens() + spent.getPromptTokens())
                    .setCachedPromptTokens(usage.getCachedPromptTokens() + spent.getCachedPromptTokens())
                    .setCompletionTokens(usage.getCompletionTokens() + spent.getCompletionTokens());
        }
        String leader = tally.leader();
        ReasoningPath best = null;
        for (ReasoningPath p : mine) {
            if (leader != null && p.getAnswer().equals(leader) && (best == null || p.getWeight() > best.getWeight())) {
                best = p;
            }
        }
        return new Voted(tally, best, usage.build());
    }

    /** Why sampling stops now (null: go on), with remaining paths not yet voted. */
    private String settled(Tally tally, int remaining) {
        if (remaining <= 0) {
            return null;
        }
        if (plan.stopWhenDecided() && tally.decided(remaining)) {
            return "decided: \"" + tally.leader() + "\" leads by more than the " + remaining + " paths left could change";
        }
        if (plan.stopAtConfidence() > 0 && tally.voted() >= plan.minSamples() && tally.confidence() + 1e-6 >= plan.stopAtConfidence()) {
            return String.format(java.util.Locale.ROOT, "confident: \"%s\" holds %.0f%% of %d votes (the target: %.0f%%)", tally.leader(),
                    100 * tally.confidence(), tally.voted(), 100 * plan.stopAtConfidence());
        }
        return null;
    }

    // ---- results

    private String answer(String text) {
        if (plan.parser() == null) {
            return text.strip();
        }
        return plan.parser().parse(text);
    }

    private void stage(String kind, String question, Text t, String answer) {
        sink.stage(ReasoningStage.newBuilder().setIndex(stageIndex++).setKind(kind).setQuestion(question).setText(t.text)
                .setAnswer(answer == null ? "" : answer).setUsage(t.usage).build());
    }

    private ReasonResult.Builder result(String answer) {
        return ReasonResult.newBuilder().setAnswer(answer == null ? "" : answer).setStrategy(plan.strategy())
                .setConfidence(answer == null || answer.isEmpty() ? 0 : 1).addAllPaths(paths).setSamplesDrawn(drawn).setSamplesSaved(saved)
                .setStoppedBecause(stoppedBecause).setUsage(Usage.newBuilder().setPromptTokens(promptTokens).setCachedPromptTokens(cachedTokens)
                        .setCompletionTokens(completionTokens));
    }
}
