package io.boundless.router.reasoning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.proto.router.v1.AnswerParser;
import io.boundless.proto.router.v1.AnswerParserKind;
import io.boundless.proto.router.v1.EarlyStopping;
import io.boundless.proto.router.v1.Exemplar;
import io.boundless.proto.router.v1.ReasonRequest;
import io.boundless.proto.router.v1.ReasoningStrategy;
import io.boundless.proto.router.v1.Sampling;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Requests checked against the limits: every refusal names what was wrong; the defaults are applied. */
class PlanTest {
    static final Plan.Limits LIMITS = new Plan.Limits(64, 16, 65536, 16);
    static final AnswerParser NUMBER = AnswerParser.newBuilder().setKind(AnswerParserKind.ANSWER_PARSER_KIND_NUMBER).build();

    static ReasonRequest.Builder req(ReasoningStrategy s) {
        return ReasonRequest.newBuilder().setModel("m").setQuestion("Tom has 3 apples. He buys 2 more. How many apples does Tom have now?").setStrategy(s);
    }

    static StatusRuntimeException refusal(ReasonRequest.Builder r) {
        try {
            Plan.of(r.build(), LIMITS, ExemplarSets.none());
        } catch (StatusRuntimeException e) {
            return e;
        }
        throw new AssertionError("accepted: " + r);
    }

    @Test
    void defaults() {
        Plan sc = Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).build(), LIMITS, ExemplarSets.none());
        assertThat(sc.n()).isEqualTo(10);
        assertThat(sc.parallel()).isEqualTo(10);
        assertThat(sc.sampling().getTemperature()).isEqualTo(0.7f);
        assertThat(sc.sampling().getMaxTokens()).isEqualTo(256);
        assertThat(sc.trigger()).isEqualTo(Plan.DEFAULT_TRIGGER);
        assertThat(sc.worstCaseTokens()).isEqualTo(2560);
        Plan z = Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).build(), LIMITS, ExemplarSets.none());
        assertThat(z.n()).isEqualTo(1);
        assertThat(z.sampling().getTemperature()).isZero();
        assertThat(z.parser()).isNull();
        assertThat(z.worstCaseTokens()).isEqualTo(256 + Plan.EXTRACT_TOKENS);
        Plan l = Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST).build(), LIMITS, ExemplarSets.none());
        assertThat(l.trigger()).isEmpty();
        assertThat(l.transcript()).isTrue();
        assertThat(Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_UNSPECIFIED).build(), LIMITS, ExemplarSets.none()).strategy())
                .isEqualTo(ReasoningStrategy.REASONING_STRATEGY_DIRECT);
        Plan big = Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER).setN(40).build(), LIMITS, ExemplarSets.none());
        assertThat(big.parallel()).isEqualTo(16);
    }

    @Test
    void selfConsistencyWithoutAParserIsInvalid() {
        var e = refusal(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(e.getStatus().getDescription()).contains("needs an answer parser");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST).setN(3)).getStatus().getDescription()).contains("needs an answer parser");
    }

    @Test
    void limitsAndBadFieldsAreNamed() {
        var sc = req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setParser(NUMBER);
        assertThat(refusal(sc.clone().setN(65)).getStatus().getDescription()).contains("n must be 1 to 64");
        assertThat(refusal(sc.clone().setParallel(17)).getStatus().getDescription()).contains("parallel must be 1 to 16");
        assertThat(refusal(sc.clone().setN(64).setSampling(Sampling.newBuilder().setMaxTokens(2048))).getStatus().getDescription())
                .contains("up to 131072 tokens (64 paths of 2048)").contains("lower n or sampling.max_tokens");
        assertThat(refusal(sc.clone().setN(4).setMaxTotalTokens(1000)).getStatus().getDescription()).contains("over the budget of 1000 (max_total_tokens)");
        assertThat(refusal(sc.clone().setMaxTotalTokens(70000)).getStatus().getDescription()).contains("max_total_tokens is at most 65536");
        assertThat(refusal(sc.clone().setSampling(Sampling.newBuilder().setTemperature(0))).getStatus().getDescription()).contains("temperature must be above 0");
        assertThat(refusal(sc.clone().setEarlyStopping(EarlyStopping.newBuilder().setConfidence(1.5f))).getStatus().getDescription())
                .contains("early_stopping.confidence");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setN(3)).getStatus().getDescription()).contains("zero_shot_cot draws one path");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_DIRECT).setEarlyStopping(EarlyStopping.newBuilder().setWhenDecided(true)))
                .getStatus().getDescription()).contains("early_stopping is for self_consistency");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_DIRECT).setQuestion(" ")).getStatus().getDescription()).isEqualTo("question is required");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT)).getStatus().getDescription()).contains("few_shot_cot needs worked examples");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_DIRECT).addSubquestions("x")).getStatus().getDescription())
                .contains("subquestions are for least_to_most");
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setParser(AnswerParser.newBuilder()
                .setKind(AnswerParserKind.ANSWER_PARSER_KIND_REGEX).setPattern("(x"))).getStatus().getDescription()).contains("not a valid regular expression");
        var unknown = refusal(req(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT).setExemplarSet("gsm8k"));
        assertThat(unknown.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
        assertThat(unknown.getStatus().getDescription()).contains("exemplar set 'gsm8k' is not known");
    }

    @Test
    void aSubquestionMayOnlyUseTheAnswersBeforeIt() {
        var l = req(ReasoningStrategy.REASONING_STRATEGY_LEAST_TO_MOST);
        assertThat(refusal(l.clone().addSubquestions("a {1}")).getStatus().getDescription()).contains("subquestions[0] refers to {1}").contains("none for the first");
        assertThat(refusal(l.clone().addSubquestions("a").addSubquestions("b {2}")).getStatus().getDescription()).contains("subquestions[1] refers to {2}");
        Plan ok = Plan.of(l.clone().addSubquestions("a").addSubquestions("b {1}").addSubquestions("c {1} {2}").build(), LIMITS, ExemplarSets.none());
        assertThat(ok.worstCaseTokens()).isEqualTo(3 * 256);
        assertThat(Plan.fill("Tom has {1} apples and {2} pears, not {3}.", List.of("17", "4"))).isEqualTo("Tom has 17 apples and 4 pears, not {3}.");
        assertThat(Plan.fill("cost {1}", List.of("$5"))).isEqualTo("cost $5");
    }

    @Test
    void triggersAreNotRepeatedAndDecompositionsAreReadLineByLine() {
        assertThat(Plan.withTrigger("Q? Let's think step by step.", Plan.DEFAULT_TRIGGER)).isEqualTo("Q? Let's think step by step.");
        assertThat(Plan.withTrigger("Q? ", Plan.DEFAULT_TRIGGER)).isEqualTo("Q? Let's think step by step.");
        assertThat(Plan.withTrigger("Q?", "")).isEqualTo("Q?");
        assertThat(Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setNoTrigger(true).build(), LIMITS, ExemplarSets.none()).trigger()).isEmpty();
        assertThat(refusal(req(ReasoningStrategy.REASONING_STRATEGY_ZERO_SHOT_COT).setNoTrigger(true).setTrigger("x")).getStatus().getDescription())
                .contains("no_trigger and trigger");
        assertThat(Plan.decomposition("1. How many at first?\n2) Then?\n\n- And now?\nQ3: Last?\n")).containsExactly("How many at first?", "Then?", "And now?",
                "Last?");
        assertThat(Plan.decomposition("a\nb\nc\nd\ne\nf\ng\nh\ni\nj")).hasSize(Plan.MODEL_SUBQUESTIONS);
    }

    @Test
    void anExemplarSetGivesItsExamplesParserAndTrigger(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("arith.json"), """
                {"description": "d", "parser": {"kind": "number"}, "trigger": "Think.",
                 "exemplars": [{"question": "1 + 1?", "rationale": "1 + 1 = 2. The answer is 2.", "subquestions": ["1?", "1 + {1}?"]}]}
                """);
        ExemplarSets sets = ExemplarSets.load(dir);
        assertThat(sets.names()).containsExactly("arith");
        Plan p = Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_SELF_CONSISTENCY).setExemplarSet("arith").build(), LIMITS, sets);
        assertThat(p.parser()).isNotNull();
        assertThat(p.trigger()).isEqualTo("Think.");
        assertThat(p.exemplars()).extracting(Exemplar::getQuestion).containsExactly("1 + 1?");
        // the request's own exemplars win over the set's
        Plan own = Plan.of(req(ReasoningStrategy.REASONING_STRATEGY_FEW_SHOT_COT).setExemplarSet("arith")
                .addExemplars(Exemplar.newBuilder().setQuestion("2 + 2?").setRationale("4")).build(), LIMITS, sets);
        assertThat(own.exemplars()).extracting(Exemplar::getQuestion).containsExactly("2 + 2?");

        Files.writeString(dir.resolve("broken.json"), "{\"exemplars\": [{\"question\": \"q\"}]}");
        assertThatThrownBy(() -> ExemplarSets.load(dir)).hasMessageContaining("broken.json").hasMessageContaining("neither a rationale nor subquestions");
        Files.writeString(dir.resolve("broken.json"), "{\"parser\": {\"kind\": \"regex\", \"pattern\": \"(\"}, \"exemplars\": [{\"question\": \"q\", \"rationale\": \"r\"}]}");
        assertThatThrownBy(() -> ExemplarSets.load(dir)).hasMessageContaining("not a valid regular expression");
    }

    @Test
    void theDefaultModelsExemplarSetsLoad() {
        Path dir = Path.of("../..").resolve("models/boundless-world/reasoning");
        ExemplarSets sets = ExemplarSets.load(dir);
        assertThat(sets.names()).containsExactly("arithmetic", "last-letters");
        assertThat(sets.get("last-letters").exemplars()).hasSize(2);
        Parser p = Parser.of(sets.get("last-letters").parser());
        assertThat(p.parse(sets.get("last-letters").exemplars().get(1).getRationale())).isEqualTo("o e n");
    }
}
