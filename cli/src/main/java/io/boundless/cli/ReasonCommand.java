package io.boundless.cli;

import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.EarlyStopping;
import io.boundless.proto.router.v1.ListModelsRequest;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasonResponse;
import io.boundless.proto.router.v1.ReasonResult;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.RouterGrpc;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SubanswerContext;
import io.boundless.proto.router.v1.VoteCount;
import io.boundless.proto.router.v1.VoteRule;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code boundless reason}: one question answered by a reasoning strategy through the router's Reason RPC;
 * each path or stage is printed as it ends, then the answer and its vote distribution.
 */
final class ReasonCommand {
    static final String USAGE = """
                   boundless reason [--strategy S] [-n N] [--parser P] [--vote majority|weighted] [--stop-when-decided] [--confidence C]
                                    [--parallel K] [--exemplars SET] [--sub QUESTION]... [--placeholders] [--trigger T]
                                    [--temperature T] [--max-tokens N] [--seed S] QUESTION...
                                    answer by a reasoning strategy, showing its paths and votes; S: direct, zero_shot_cot (default),
                                    few_shot_cot, self_consistency, least_to_most; P: number (the default when paths vote), choice[:ABCD],
                                    yes_no, regex:PATTERN""";

    private ReasonCommand() {}

    static int run(List<String> args) {
        ReasonRequest.Builder r = ReasonRequest.newBuilder().setStrategy(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT);
        Sampling.Builder s = Sampling.newBuilder();
        EarlyStopping.Builder stop = EarlyStopping.newBuilder();
        boolean parserGiven = false;
        List<String> words = new ArrayList<>();
        for (Iterator<String> it = args.iterator(); it.hasNext(); ) {
            String a = it.next();
            switch (a) {
                case "--strategy" -> {
                    String v = Boundless.value(it, a);
                    try {
                        r.setStrategy(ReasoningStrategy.valueOf("REASONING_STRATEGY_" + v.toUpperCase(Locale.ROOT).replace('-', '_')));
                    } catch (IllegalArgumentException e) {
                        throw new Boundless.UsageException("--strategy is direct, zero_shot_cot, few_shot_cot, self_consistency or least_to_most, not " + v);
                    }
                }
                case "-n", "--n" -> r.setN(Boundless.number(it, a, 1, 1024));
                case "--parser" -> {
                    r.setParser(parser(Boundless.value(it, a)));
                    parserGiven = true;
                }
                case "--vote" -> {
                    String v = Boundless.value(it, a);
                    r.setVote(switch (v) {
                        case "majority" -> VoteRule.VOTE_RULE_MAJORITY;
                        case "weighted" -> VoteRule.VOTE_RULE_WEIGHTED;
                        default -> throw new Boundless.UsageException("--vote is majority or weighted, not " + v);
                    });
                }
                case "--stop-when-decided" -> stop.setWhenDecided(true);
                case "--confidence" -> stop.setConfidence(decimal(it, a, 0, 1));
                case "--min-samples" -> stop.setMinSamples(Boundless.number(it, a, 1, 1024));
                case "--parallel" -> r.setParallel(Boundless.number(it, a, 1, 1024));
                case "--exemplars" -> r.setExemplarSet(Boundless.value(it, a));
                case "--sub" -> r.addSubquestions(Boundless.value(it, a));
                case "--placeholders" -> r.setSubanswerContext(SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS);
                case "--trigger" -> r.setTrigger(Boundless.value(it, a));
                case "--temperature" -> s.setTemperature(decimal(it, a, 0, 100));
                case "--max-tokens" -> s.setMaxTokens(Boundless.number(it, a, 1, Integer.MAX_VALUE));
                case "--seed" -> s.setSeed(Boundless.number(it, a, 0, Integer.MAX_VALUE));
                default -> {
                    if (a.startsWith("--")) {
                        throw new Boundless.UsageException("unknown option " + a);
                    }
                    words.add(a);
                }
            }
        }
        if (words.isEmpty()) {
            throw new Boundless.UsageException("give the question");
        }
        boolean votes = r.getStrategy() == ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY
                || (r.getStrategy() == ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST && r.getN() > 1);
        if (votes && !parserGiven && r.getExemplarSet().isEmpty()) {
            r.setParser(AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER));
            System.out.println("(answers are read as numbers; --parser changes that)");
        }
        if (stop.getWhenDecided() || stop.getConfidence() > 0) {
            r.setEarlyStopping(stop);
        }
        r.setQuestion(String.join(" ", words)).setSampling(s);
        String target = Boundless.routerTarget();
        ManagedChannel channel = Boundless.channel(target);
        try {
            var stub = Boundless.withKey(RouterGrpc.newBlockingStub(channel)).withDeadlineAfter(10, TimeUnit.MINUTES);
            r.setModel(stub.listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getId());
            for (var it = stub.reason(r.build()); it.hasNext(); ) {
                print(it.next());
            }
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("boundless reason: " + Boundless.describe(e, target));
            return 1;
        } finally {
            channel.shutdownNow();
        }
    }

    private static float decimal(Iterator<String> it, String option, float min, float max) {
        String v = Boundless.value(it, option);
        try {
            float f = Float.parseFloat(v);
            if (f >= min && f <= max) {
                return f;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new Boundless.UsageException(option + " takes a number from " + min + " to " + max + ", not " + v);
    }

    static AnswerParser parser(String v) {
        AnswerParser.Builder p = AnswerParser.newBuilder();
        if (v.equals("number")) {
            p.setKind(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER);
        } else if (v.equals("yes_no") || v.equals("yes-no")) {
            p.setKind(AnswerParserKind.ANSWER_PARSER_KIND_YES_NO);
        } else if (v.equals("choice") || v.startsWith("choice:")) {
            p.setKind(AnswerParserKind.ANSWER_PARSER_KIND_CHOICE).setChoices(v.startsWith("choice:") ? v.substring(7) : "");
        } else if (v.startsWith("regex:")) {
            p.setKind(AnswerParserKind.ANSWER_PARSER_KIND_REGEX).setPattern(v.substring(6));
        } else {
            throw new Boundless.UsageException("--parser is number, choice[:LETTERS], yes_no or regex:PATTERN, not " + v);
        }
        return p.build();
    }

    private static void print(ReasonResponse m) {
        switch (m.getEventCase()) {
            case STAGE -> {
                var st = m.getStage();
                System.out.printf("[%s] %s%n  %s%s%n", st.getKind(), oneLine(st.getQuestion(), 110), oneLine(st.getText(), 110),
                        st.getAnswer().isEmpty() ? "" : "  → " + oneLine(st.getAnswer(), 40));
            }
            case PATH -> {
                var p = m.getPath();
                System.out.printf("path %2d  %-8s %s%n", p.getIndex() + 1, p.getAnswer().isEmpty() ? "(none)" : oneLine(p.getAnswer(), 8), oneLine(p.getText(), 100));
            }
            case RESULT -> printResult(m.getResult());
            default -> { }
        }
        System.out.flush();
    }

    static void printResult(ReasonResult r) {
        System.out.println();
        if (r.getSubanswersCount() > 0) {
            for (int i = 0; i < r.getSubanswersCount(); i++) {
                System.out.printf("  %d. %s → %s%n", i + 1, oneLine(r.getSubquestions(i), 90), r.getSubanswers(i));
            }
        }
        int voted = 0;
        for (VoteCount v : r.getVotesList()) {
            voted += v.getVotes();
        }
        System.out.printf("answer: %s%n", r.getAnswer().isEmpty() ? "(none)" : r.getAnswer());
        if (r.getVotesCount() > 0) {
            System.out.printf(Locale.ROOT, "confidence %.0f%% (%d of %d votes)%n", 100 * r.getConfidence(), r.getVotes(0).getVotes(), voted);
            int width = 30;
            for (VoteCount v : r.getVotesList()) {
                int bar = (int) Math.round(v.getShare() * width);
                System.out.printf(Locale.ROOT, "  %-10s %s%s %3d  %5.1f%%%n", oneLine(v.getAnswer(), 10), "█".repeat(bar), "░".repeat(width - bar), v.getVotes(),
                        100 * v.getShare());
            }
            int none = r.getSamplesDrawn() - voted;
            if (none > 0) {
                System.out.printf("  (%d paths gave no answer)%n", none);
            }
        }
        var u = r.getUsage();
        String sampled = r.getSamplesDrawn() == 0 ? "" : r.getSamplesDrawn() + " paths drawn, " + r.getSamplesSaved() + " saved by early stopping; ";
        System.out.printf("[%s%d prompt tokens (%d from the prefix cache), %d generated]%n", sampled, u.getPromptTokens(), u.getCachedPromptTokens(),
                u.getCompletionTokens());
        if (!r.getStoppedBecause().isEmpty()) {
            System.out.println("stopped early: " + r.getStoppedBecause());
        }
    }

    private static String oneLine(String s, int max) {
        String t = s.strip().replaceAll("\\s+", " ");
        return t.length() <= max ? t : t.substring(0, max - 1) + "…";
    }
}
