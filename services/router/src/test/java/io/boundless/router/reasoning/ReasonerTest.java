package io.boundless.router.reasoning;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.EarlyStopping;
import io.boundless.proto.router.v1.FinishReason;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningPath;
import io.boundless.proto.router.v1.ReasoningStage;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SubanswerContext;
import io.boundless.proto.router.v1.Usage;
import io.boundless.proto.router.v1.VoteRule;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The strategies on a fake generator whose paths are fixed: what is asked, in what order, and what comes back. */
class ReasonerTest {
    static final AnswerParser NUMBER = AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER).build();

    /** A generator that renders chats as "role: content" lines and answers each generation from a function of its prompt and index. */
    static class FakeGenerator implements Generator {
        final List<List<ChatMessage>> chats = new CopyOnWriteArrayList<>();
        final List<String> prompts = new CopyOnWriteArrayList<>();
        final List<Integer> sizes = new CopyOnWriteArrayList<>();
        final List<Sampling> samplings = new CopyOnWriteArrayList<>();
        final List<Integer> cancelled = new CopyOnWriteArrayList<>();
        final List<Integer> stopped = new CopyOnWriteArrayList<>();
        /** (prompt text, path number over the whole request) -> the path's text; null: the path never ends (until cancelled). */
        final java.util.function.BiFunction<String, Integer, String> answer;
        int pathNumber;
        int generations;

        FakeGenerator(java.util.function.BiFunction<String, Integer, String> answer) {
            this.answer = answer;
        }

        @Override
        public Prompt chat(List<ChatMessage> messages) {
            chats.add(List.copyOf(messages));
            StringBuilder sb = new StringBuilder();
            for (ChatMessage m : messages) {
                sb.append(m.getRole()).append(": ").append(m.getContent()).append('\n');
            }
            sb.append("assistant:");
            return new Prompt(sb.toString(), new int[sb.length() / 4 + 1]);
        }

        @Override
        public Prompt extend(Prompt prompt, String more) {
            return new Prompt(prompt.text() + more, new int[(prompt.text() + more).length() / 4 + 1]);
        }

        @Override
        public synchronized Run start(Prompt prompt, Sampling sampling, int n, Listener listener) {
            int id = generations++;
            prompts.add(prompt.text());
            sizes.add(n);
            samplings.add(sampling);
            boolean[] stopped = new boolean[1];
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                texts.add(answer.apply(prompt.text(), pathNumber++));
            }
            Thread.ofVirtual().start(() -> {
                int tokens = 0;
                for (int i = 0; i < n; i++) {
                    String t = texts.get(i);
                    if (t == null) {
                        return;  // runs until cancelled
                    }
                    synchronized (stopped) {
                        if (stopped[0]) {
                            return;
                        }
                    }
                    int k = t.split(" ").length;
                    tokens += k;
                    listener.path(i, t, k, -0.1 * k * (1 + i % 3), FinishReason.FINISH_REASON_STOP);
                }
                listener.done(Usage.newBuilder().setPromptTokens(prompt.ids().length).setCachedPromptTokens(id == 0 ? 0 : prompt.ids().length)
                        .setCompletionTokens(tokens).build());
            });
            return new Run() {
                @Override
                public void cancel() {
                    synchronized (stopped) {
                        stopped[0] = true;
                    }
                    cancelled.add(id);
                }

                @Override
                public void stop() {
                    synchronized (stopped) {
                        stopped[0] = true;
                    }
                    FakeGenerator.this.stopped.add(id);
                }

                @Override
                public int tokens() {
                    return 3;
                }
            };
        }
    }

    /** Everything the sink heard. */
    static final class Recorded implements ReasoningSink {
        final List<ReasoningStage> stages = new CopyOnWriteArrayList<>();
        final List<ReasoningPath> paths = new CopyOnWriteArrayList<>();
        volatile ReasonResult result;
        volatile StatusRuntimeException error;
        final CountDownLatch ended = new CountDownLatch(1);
        final CountDownLatch twoPaths = new CountDownLatch(2);

        @Override
        public void stage(ReasoningStage stage) {
            stages.add(stage);
        }

        @Override
        public void path(ReasoningPath path) {
            paths.add(path);
            twoPaths.countDown();
        }

        @Override
        public void result(ReasonResult result) {
            this.result = result;
            ended.countDown();
        }

        @Override
        public void error(StatusRuntimeException error) {
            this.error = error;
            ended.countDown();
        }
    }

    static final Plan.Limits LIMITS = new Plan.Limits(64, 16, 65536, 16);

    record Run(Recorded out, FakeGenerator gen, List<Reasoner.Outcome> outcomes) {}

    static Run run(ReasonRequest r, java.util.function.BiFunction<String, Integer, String> answer) throws InterruptedException {
        FakeGenerator gen = new FakeGenerator(answer);
        Recorded out = new Recorded();
        List<Reasoner.Outcome> outcomes = new CopyOnWriteArrayList<>();
        new Reasoner(Plan.of(r, LIMITS, ExemplarSets.none()), gen, out, outcomes::add).start();
        assertThat(out.ended.await(10, TimeUnit.SECONDS)).isTrue();
        return new Run(out, gen, outcomes);
    }

    static ReasonRequest.Builder req(ReasoningStrategy s) {
        return ReasonRequest.newBuilder().setModel("m").setQuestion("Q?").setStrategy(s);
    }

    static Function<Integer, String> cycle(String... texts) {
        return i -> texts[i % texts.length];
    }

    @Test
    void selfConsistencyVotesEveryPathOfOneGenerationThatSharesThePrompt() throws Exception {
        String[] texts = {"so 3 + 4 = 7. The answer is 7.", "The answer is 8.", "The answer is 7.", "I am not sure.", "The answer is 7."};
        Run r = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(5).build(), (p, i) -> texts[i]);
        ReasonResult res = r.out.result;
        assertThat(r.gen.sizes).containsExactly(5);  // one generation of 5 samples: one prompt, its blocks shared
        assertThat(r.gen.chats.getFirst().getLast().getContent()).isEqualTo("Q? Let's think step by step.");
        assertThat(r.gen.samplings.getFirst().getTemperature()).isEqualTo(0.7f);
        assertThat(res.getAnswer()).isEqualTo("7");
        assertThat(res.getConfidence()).isEqualTo(0.75);  // 3 of the 4 paths that gave an answer
        assertThat(res.getVotesList()).extracting(v -> v.getAnswer() + ":" + v.getVotes()).containsExactly("7:3", "8:1");
        assertThat(res.getPathsList()).hasSize(5);
        assertThat(res.getPaths(3).getAnswer()).isEmpty();
        assertThat(r.out.paths).hasSize(5);
        assertThat(res.getSamplesDrawn()).isEqualTo(5);
        assertThat(res.getSamplesSaved()).isZero();
        assertThat(res.getUsage().getCompletionTokens()).isEqualTo(java.util.Arrays.stream(texts).mapToInt(t -> t.split(" ").length).sum());
        assertThat(r.outcomes).singleElement().satisfies(o -> {
            assertThat(o.status()).isEqualTo("ok");
            assertThat(o.voted()).isTrue();
        });
    }

    @Test
    void weightedVoteFollowsThePathsProbabilities() throws Exception {
        // path i has mean log-probability -0.1 * (1 + i % 3): paths 0 and 3 weigh most
        String[] texts = {"The answer is 5.", "The answer is 6.", "The answer is 6.", "The answer is 5."};
        Run majority = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(4).setVote(VoteRule.VOTE_RULE_MAJORITY).build(),
                (p, i) -> texts[i]);
        assertThat(majority.out.result.getAnswer()).isEqualTo("5");  // 2 : 2, 5 came first
        String[] skew = {"The answer is 5.", "The answer is 6.", "The answer is 6.", "The answer is 9."};
        Run weighted = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(4).setVote(VoteRule.VOTE_RULE_WEIGHTED).build(),
                (p, i) -> skew[i]);
        double w0 = Math.exp(-0.1);
        double w1 = Math.exp(-0.2);
        double w2 = Math.exp(-0.3);
        assertThat(weighted.out.result.getAnswer()).isEqualTo("6");
        assertThat(weighted.out.result.getConfidence()).isCloseTo((w1 + w2) / (w0 + w1 + w2 + w0), org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void earlyStoppingStopsOnceTheLeaderIsDecidedAndCancelsWhatStillRuns() throws Exception {
        // 9 paths in generations of 2, every path says 7: after 5 votes for 7 the 4 left cannot tie it
        Run r = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(9).setParallel(2)
                .setEarlyStopping(EarlyStopping.newBuilder().setWhenDecided(true)).build(), (p, i) -> "The answer is 7.");
        ReasonResult res = r.out.result;
        assertThat(res.getSamplesDrawn()).isEqualTo(5);
        assertThat(res.getSamplesSaved()).isEqualTo(4);
        assertThat(res.getStoppedBecause()).startsWith("decided: \"7\"");
        assertThat(r.gen.sizes).containsExactly(2, 2, 2);  // the third generation was cut after its first path
        assertThat(r.gen.stopped).containsExactly(2);  // stopped by the strategy, not cancelled as by a client
        assertThat(r.gen.cancelled).isEmpty();
        // a seed moves on per generation, or every generation would draw the same paths
        Run seeded = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(4).setParallel(2)
                .setSampling(Sampling.newBuilder().setSeed(5)).build(), (p, i) -> "The answer is 7.");
        assertThat(seeded.gen.samplings).extracting(Sampling::getSeed).doesNotHaveDuplicates();
        assertThat(r.outcomes.getFirst().saved()).isEqualTo(4);
    }

    @Test
    void earlyStoppingAtAStatedConfidenceWaitsForMinSamples() throws Exception {
        String[] texts = {"The answer is 7.", "The answer is 7.", "The answer is 8.", "The answer is 7.", "The answer is 7.", "The answer is 7."};
        Run r = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(20).setParallel(1)
                .setEarlyStopping(EarlyStopping.newBuilder().setConfidence(0.8f).setMinSamples(4)).build(), (p, i) -> texts[Math.min(i, 5)]);
        // after 4: 7 holds 3/4 = 75%; after 5: 4/5 = 80%: stop
        assertThat(r.out.result.getSamplesDrawn()).isEqualTo(5);
        assertThat(r.out.result.getSamplesSaved()).isEqualTo(15);
        assertThat(r.out.result.getStoppedBecause()).startsWith("confident: \"7\" holds 80% of 5 votes");
        // without early stopping every path is drawn
        Run all = run(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(20).build(), (p, i) -> "The answer is 7.");
        assertThat(all.out.result.getSamplesDrawn()).isEqualTo(20);
        assertThat(all.gen.sizes).containsExactly(16, 4);
    }

    @Test
    void leastToMostPassesEarlierAnswersForward() throws Exception {
        java.util.function.BiFunction<String, Integer, String> solve = (p, i) -> p.contains("has {1}") ? "unfilled" : p.contains("has 5 apples")
                ? "Tom starts with 5. He gives away 1, so 5 - 1 = 4. The answer is 4." : "Tom starts with 3. He buys 2, so 3 + 2 = 5. The answer is 5.";
        var base = req(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST).setParser(NUMBER)
                .addSubquestions("Tom has 3 apples. He buys 2 more. How many apples does Tom have now?")
                .addSubquestions("Tom has {1} apples. He gives away 1. How many apples does Tom have now?");
        Run placeholders = run(base.clone().setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS).build(), solve);
        ReasonResult res = placeholders.out.result;
        assertThat(res.getSubanswersList()).containsExactly("5", "4");
        assertThat(res.getSubquestions(1)).isEqualTo("Tom has 5 apples. He gives away 1. How many apples does Tom have now?");
        assertThat(res.getAnswer()).isEqualTo("4");
        assertThat(placeholders.out.stages).extracting(ReasoningStage::getKind).containsExactly("subquestion", "subquestion");
        assertThat(placeholders.gen.chats.get(1)).hasSize(1);  // asked alone

        Run transcript = run(base.build(), solve);
        List<ChatMessage> second = transcript.gen.chats.get(1);
        assertThat(second).extracting(ChatMessage::getRole).containsExactly("user", "assistant", "user");
        assertThat(second.get(1).getContent()).endsWith("The answer is 5.");
        assertThat(second.get(2).getContent()).contains("Tom has 5 apples");
        assertThat(transcript.out.result.getAnswer()).isEqualTo("4");
    }

    @Test
    void leastToMostDecomposesWithTheModelWhenNoSubquestionsAreGiven() throws Exception {
        Run r = run(req(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST).setParser(NUMBER).build(),
                (p, i) -> p.contains("Break the problem") ? "1. How many at first?\n2. How many after buying?" : "The answer is " + (i + 10) + ".");
        ReasonResult res = r.out.result;
        assertThat(r.out.stages.getFirst().getKind()).isEqualTo("decompose");
        assertThat(res.getSubquestionsList()).containsExactly("How many at first?", "How many after buying?", "Q?");  // the question itself comes last
        assertThat(res.getSubanswersList()).containsExactly("11", "12", "13");
        assertThat(res.getAnswer()).isEqualTo("13");
    }

    @Test
    void leastToMostWithSeveralPathsVotesEachSubquestion() throws Exception {
        Run r = run(req(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST).setParser(NUMBER).setN(3).addSubquestions("a?").addSubquestions("b {1}?")
                .setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS).build(), (p, i) -> i % 3 == 2 ? "The answer is 1." : "The answer is " + (p.contains("b 2?") ? 3 : 2) + ".");
        assertThat(r.out.result.getSubanswersList()).containsExactly("2", "3");
        assertThat(r.out.paths).extracting(ReasoningPath::getStage).containsExactly(0, 0, 0, 1, 1, 1);
        assertThat(r.out.result.getConfidence()).isCloseTo(2.0 / 3, org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void zeroShotExtractsTheAnswerOnlyWhenTheReasoningDoesNotStateIt() throws Exception {
        Run stated = run(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setParser(NUMBER).build(), (p, i) -> "3 + 4 = 7. The answer is 7.");
        assertThat(stated.out.stages).extracting(ReasoningStage::getKind).containsExactly("reason");
        assertThat(stated.out.result.getAnswer()).isEqualTo("7");
        Run extracted = run(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setParser(NUMBER).build(),
                (p, i) -> p.endsWith("Therefore, the answer is") ? " 7." : "Three and four make seven.");
        assertThat(extracted.out.stages).extracting(ReasoningStage::getKind).containsExactly("reason", "extract");
        assertThat(extracted.gen.prompts.get(1)).endsWith("assistant:Three and four make seven. Therefore, the answer is");
        assertThat(extracted.gen.samplings.get(1).getMaxTokens()).isEqualTo(Plan.EXTRACT_TOKENS);
        assertThat(extracted.out.result.getAnswer()).isEqualTo("7");
        Run free = run(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).build(), (p, i) -> p.endsWith("is") ? " Paris." : "It is in France.");
        assertThat(free.out.stages).hasSize(2);  // without a parser the answer prompt always runs
        assertThat(free.out.result.getAnswer()).isEqualTo("Paris.");
    }

    @Test
    void fewShotPutsTheExamplesBeforeTheQuestion() throws Exception {
        Run r = run(req(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT).addContext(ChatMessage.newBuilder().setRole("system").setContent("Be brief."))
                .addExemplars(io.boundless.proto.router.v1.Exemplar.newBuilder().setQuestion("1 + 1?").setRationale("1 + 1 = 2. The answer is 2."))
                .build(), (p, i) -> "The answer is 3.");
        assertThat(r.gen.chats.getFirst()).extracting(m -> m.getRole() + ": " + m.getContent())
                .containsExactly("system: Be brief.", "user: 1 + 1?", "assistant: 1 + 1 = 2. The answer is 2.", "user: Q?");
        assertThat(r.out.result.getAnswer()).isEqualTo("The answer is 3.");
    }

    @Test
    void cancellingEndsTheRunningGenerationAndTellsTheSinkNothingMore() throws Exception {
        FakeGenerator gen = new FakeGenerator((p, i) -> i < 2 ? "The answer is 7." : null);  // the third path never ends
        Recorded out = new Recorded();
        List<Reasoner.Outcome> outcomes = new CopyOnWriteArrayList<>();
        Reasoner reasoner = new Reasoner(Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(4).build(), LIMITS,
                ExemplarSets.none()), gen, out, outcomes::add).start();
        assertThat(out.twoPaths.await(5, TimeUnit.SECONDS)).isTrue();
        reasoner.cancel();
        assertThat(reasoner.join(5000)).isTrue();
        assertThat(gen.cancelled).containsExactly(0);
        assertThat(out.result).isNull();
        assertThat(out.error).isNull();
        assertThat(outcomes).singleElement().extracting(Reasoner.Outcome::status).isEqualTo("cancelled");
    }

    @Test
    void aFailedGenerationEndsTheRequestWithItsStatus() throws Exception {
        Generator failing = new FakeGenerator((p, i) -> "x") {
            @Override
            public Run start(Prompt prompt, Sampling sampling, int n, Listener listener) {
                Thread.ofVirtual().start(() -> listener.failed(Status.UNAVAILABLE.withDescription("no replica").asRuntimeException()));
                return new Run() {
                    @Override
                    public void cancel() {}

                    @Override
                    public void stop() {}

                    @Override
                    public int tokens() {
                        return 0;
                    }
                };
            }
        };
        Recorded out = new Recorded();
        new Reasoner(Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_DIRECT).build(), LIMITS, ExemplarSets.none()), failing, out, null).start();
        assertThat(out.ended.await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(out.error.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(out.error.getStatus().getDescription()).isEqualTo("no replica");
    }
}
