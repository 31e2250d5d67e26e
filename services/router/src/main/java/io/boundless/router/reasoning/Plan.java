package io.boundless.router.reasoning;

import io.boundless.proto.router.v1.ChatMessage;
import io.boundless.proto.router.v1.Exemplar;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.Sampling;
import io.boundless.proto.router.v1.SubanswerContext;
import io.boundless.proto.router.v1.VoteRule;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@link ReasonRequest} checked against the router's limits and resolved against its exemplar sets, with
 * every default applied: what the {@link Reasoner} runs. Bad input is INVALID_ARGUMENT (NOT_FOUND for an
 * unknown exemplar set) with a message that names the field, before any token is generated.
 */
public record Plan(ReasoningStrategy strategy, String question, List<ChatMessage> context, Sampling sampling, Parser parser, int n,
        boolean weighted, boolean stopWhenDecided, double stopAtConfidence, int minSamples, int parallel, List<Exemplar> exemplars,
        String trigger, String answerPrompt, List<String> subquestions, boolean transcript, int worstCaseTokens) {

    public static final String DEFAULT_TRIGGER = "Let's think step by step.";
    public static final String DEFAULT_ANSWER_PROMPT = "Therefore, the answer is";
    /** Tokens zero-shot chain of thought's answer extraction may generate. */
    public static final int EXTRACT_TOKENS = 32;
    /** Sub-questions read from the model's own decomposition, at most. */
    public static final int MODEL_SUBQUESTIONS = 8;
    /** Sub-questions a request may give, at most. */
    public static final int GIVEN_SUBQUESTIONS = 16;
    private static final Pattern PLACEHOLDER = Pattern.compile("\\{(\\d{1,2})\\}");
    private static final Set<String> ROLES = Set.of("system", "user", "assistant");

    /** What the router allows: paths per request, paths per generation (its max-samples), tokens per request, exemplars per request. */
    public record Limits(int maxSamples, int maxParallel, int maxTokens, int maxExemplars) {}

    public static Plan of(ReasonRequest r, Limits limits, ExemplarSets sets) {
        ReasoningStrategy strategy = r.getStrategy() == ReasoningStrategy.REASONING_STRATEGY_UNSPECIFIED ? ReasoningStrategy.REASONING_STRATEGY_DIRECT
                : r.getStrategy();
        if (strategy == ReasoningStrategy.UNRECOGNIZED) {
            throw invalid("strategy is not one of direct, zero_shot_cot, few_shot_cot, self_consistency, least_to_most");
        }
        String name = name(strategy);
        if (r.getQuestion().isBlank()) {
            throw invalid("question is required");
        }
        for (ChatMessage m : r.getContextList()) {
            if (!ROLES.contains(m.getRole())) {
                throw invalid("context messages have the role system, user or assistant, not '" + m.getRole() + "'");
            }
        }
        boolean sc = strategy == ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY;
        boolean l2m = strategy == ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST;

        // exemplars: the request's, else the named set's; the set's parser and trigger are defaults
        ExemplarSets.ExemplarSet set = null;
        if (!r.getExemplarSet().isEmpty()) {
            set = sets.get(r.getExemplarSet());
            if (set == null) {
                throw Status.NOT_FOUND.withDescription("exemplar set '" + r.getExemplarSet() + "' is not known to this router; known: "
                        + (sets.names().isEmpty() ? "none (boundless.router.reasoning.exemplars is not set)" : String.join(", ", sets.names()))).asRuntimeException();
            }
        }
        List<Exemplar> exemplars = r.getExemplarsCount() > 0 ? r.getExemplarsList() : set == null ? List.of() : set.exemplars();
        if (r.getExemplarsCount() > limits.maxExemplars()) {
            throw invalid("at most " + limits.maxExemplars() + " exemplars, not " + r.getExemplarsCount());
        }
        for (int i = 0; i < r.getExemplarsCount(); i++) {
            Exemplar e = r.getExemplars(i);
            if (e.getQuestion().isBlank() || (e.getRationale().isBlank() && e.getSubquestionsCount() == 0)) {
                throw invalid("exemplars[" + i + "] needs a question and a rationale (or, for least_to_most, subquestions)");
            }
        }
        Parser parser;
        try {
            parser = Parser.of(r.hasParser() && r.getParser().getKindValue() != 0 ? r.getParser()
                    : set == null ? io.boundless.proto.router.v1.AnswerParser.getDefaultInstance() : set.parser());
        } catch (IllegalArgumentException e) {
            throw invalid(e.getMessage());
        }
        if (r.getNoTrigger() && !r.getTrigger().isEmpty()) {
            throw invalid("no_trigger and trigger do not go together");
        }
        String trigger = r.getNoTrigger() ? "" : !r.getTrigger().isEmpty() ? r.getTrigger() : set != null && !set.trigger().isEmpty() ? set.trigger() : l2m ? "" : DEFAULT_TRIGGER;
        if (trigger.length() > 1024 || r.getAnswerPrompt().length() > 1024) {
            throw invalid("trigger and answer_prompt have at most 1024 characters");
        }
        String answerPrompt = r.getAnswerPrompt().isEmpty() ? DEFAULT_ANSWER_PROMPT : r.getAnswerPrompt();

        // samples
        int n = r.getN();
        if (sc || l2m) {
            n = n == 0 ? (sc ? 10 : 1) : n;
            if (n < 1 || n > limits.maxSamples()) {
                throw invalid("n must be 1 to " + limits.maxSamples() + " (boundless.router.reasoning.max-samples), not " + r.getN());
            }
        } else if (n > 1) {
            throw invalid("n is for self_consistency (paths to vote) and least_to_most (paths per sub-question); " + name + " draws one path, not " + n);
        } else {
            n = 1;
        }
        if ((sc || (l2m && n > 1)) && parser == null) {
            throw invalid(name + (sc ? "" : " with n > 1") + " votes on the paths' answers and needs an answer parser: set parser.kind (number, choice,"
                    + " yes_no or regex) or name an exemplar_set that has one");
        }
        if (strategy == ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT && exemplars.stream().noneMatch(e -> !e.getRationale().isBlank())) {
            throw invalid("few_shot_cot needs worked examples: exemplars with rationales, or an exemplar_set"
                    + (sets.names().isEmpty() ? "" : " (known: " + String.join(", ", sets.names()) + ")"));
        }
        int parallel = r.getParallel() == 0 ? Math.min(n, limits.maxParallel()) : r.getParallel();
        if (parallel < 1 || parallel > limits.maxParallel()) {
            throw invalid("parallel must be 1 to " + limits.maxParallel() + " (the router's max-samples per generation), not " + r.getParallel());
        }
        parallel = Math.min(parallel, n);
        var es = r.getEarlyStopping();
        if (!(es.getConfidence() >= 0 && es.getConfidence() <= 1)) {
            throw invalid("early_stopping.confidence is a share from 0 to 1, not " + es.getConfidence());
        }
        int minSamples = es.getMinSamples() == 0 ? 5 : es.getMinSamples();
        if ((es.getWhenDecided() || es.getConfidence() > 0) && !(sc || (l2m && n > 1))) {
            throw invalid("early_stopping is for self_consistency (and least_to_most with n > 1), not " + name);
        }
        if (r.getVote() == VoteRule.UNRECOGNIZED) {
            throw invalid("vote is majority or weighted");
        }

        // sub-questions
        List<String> subs = List.copyOf(r.getSubquestionsList());
        if (!subs.isEmpty() && !l2m) {
            throw invalid("subquestions are for least_to_most, not " + name);
        }
        if (subs.size() > GIVEN_SUBQUESTIONS) {
            throw invalid("at most " + GIVEN_SUBQUESTIONS + " subquestions, not " + subs.size());
        }
        for (int i = 0; i < subs.size(); i++) {
            if (subs.get(i).isBlank()) {
                throw invalid("subquestions[" + i + "] is empty");
            }
            Matcher m = PLACEHOLDER.matcher(subs.get(i));
            while (m.find()) {
                int k = Integer.parseInt(m.group(1));
                if (k < 1 || k > i) {
                    throw invalid("subquestions[" + i + "] refers to {" + k + "}, but only the answers of the sub-questions before it ({1} to {" + i
                            + "}) are known when it is asked" + (i == 0 ? " (none for the first)" : ""));
                }
            }
        }
        boolean transcript = r.getSubanswerContext() != SubanswerContext.SUBANSWER_CONTEXT_PLACEHOLDERS;

        // sampling and the token budget
        Sampling.Builder s = r.getSampling().toBuilder();
        if (!s.hasTemperature()) {
            s.setTemperature(sc || n > 1 ? 0.7f : 0f);
        }
        if (!s.hasMaxTokens()) {
            s.setMaxTokens(256);
        }
        if (s.getMaxTokens() < 1) {
            throw invalid("sampling.max_tokens must be at least 1");
        }
        if (s.getLogprobs() > 0) {
            throw invalid("sampling.logprobs is not returned by Reason (each path's weight is its mean token probability)");
        }
        if ((sc || n > 1) && s.getTemperature() == 0) {
            throw invalid(name + " with n > 1 samples distinct paths: sampling.temperature must be above 0 (greedy paths would all be the same)");
        }
        long per = s.getMaxTokens();
        long worst = switch (strategy) {
            case REASONING_STRATEGY_ZERO_SHOT_COT -> per + EXTRACT_TOKENS;
            case REASONING_STRATEGY_SELF_CONSISTENCY -> n * per;
            case REASONING_STRATEGY_LEAST_TO_MOST -> (subs.isEmpty() ? per + (long) MODEL_SUBQUESTIONS * n * per : (long) subs.size() * n * per);
            default -> per;
        };
        int cap = r.getMaxTotalTokens() == 0 ? limits.maxTokens() : r.getMaxTotalTokens();
        if (cap > limits.maxTokens()) {
            throw invalid("max_total_tokens is at most " + limits.maxTokens() + " (boundless.router.reasoning.max-tokens), not " + cap);
        }
        if (worst > cap) {
            throw invalid(name + " may generate up to " + worst + " tokens (" + story(strategy, n, per, subs.size()) + "), over the budget of " + cap
                    + (r.getMaxTotalTokens() == 0 ? " (boundless.router.reasoning.max-tokens)" : " (max_total_tokens)") + "; lower n or sampling.max_tokens");
        }
        return new Plan(strategy, r.getQuestion(), List.copyOf(r.getContextList()), s.build(), parser, n, r.getVote() == VoteRule.VOTE_RULE_WEIGHTED,
                es.getWhenDecided(), es.getConfidence(), minSamples, parallel, List.copyOf(exemplars), trigger, answerPrompt, subs, transcript, (int) worst);
    }

    private static String story(ReasoningStrategy s, int n, long per, int subs) {
        return switch (s) {
            case REASONING_STRATEGY_SELF_CONSISTENCY -> n + " paths of " + per;
            case REASONING_STRATEGY_LEAST_TO_MOST -> subs == 0 ? "a decomposition and up to " + MODEL_SUBQUESTIONS + " sub-questions of " + n + " paths of " + per
                    : subs + " sub-questions of " + n + " paths of " + per;
            default -> "max_tokens " + per;
        };
    }

    /** The strategy's name as requests and metrics write it ("self_consistency"). */
    public static String name(ReasoningStrategy s) {
        return s.name().replace("REASONING_STRATEGY_", "").toLowerCase(Locale.ROOT);
    }

    /** The question with the trigger appended (unless it holds it already, or there is none). */
    static String withTrigger(String question, String trigger) {
        if (trigger.isEmpty() || question.contains(trigger)) {
            return question;
        }
        return question.strip() + " " + trigger;
    }

    /** A sub-question with "{k}" replaced by the k-th answer (1-based) where known; unknown ones stay as written. */
    static String fill(String subquestion, List<String> answers) {
        Matcher m = PLACEHOLDER.matcher(subquestion);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            int k = Integer.parseInt(m.group(1));
            m.appendReplacement(sb, Matcher.quoteReplacement(k >= 1 && k <= answers.size() ? answers.get(k - 1) : m.group()));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    /** The sub-questions in a model's decomposition: one per line, numbering and bullets dropped, at most {@link #MODEL_SUBQUESTIONS}. */
    static List<String> decomposition(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\\R")) {
            String q = line.strip().replaceFirst("^(?:\\d{1,2}[.):]|[-*•]|Q\\d*:|Sub-?question \\d+:)\\s*", "").strip();
            if (!q.isEmpty() && out.size() < MODEL_SUBQUESTIONS) {
                out.add(q);
            }
        }
        return out;
    }

    static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
