package io.boundless.engine.sched;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.boundless.engine.cpu.Rope;
import io.boundless.engine.grammar.Constraint;
import io.boundless.engine.grammar.Matcher;
import io.boundless.engine.grammar.TokenVocabulary;
import io.boundless.engine.model.Architecture;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import io.boundless.engine.model.ModelWriter;
import io.boundless.engine.sample.SamplingParams;
import io.boundless.engine.tensor.DType;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Constrained decoding through the engine, on a random-weight model with the default model's real vocabulary
 * at temperature 1 (so the model itself would almost never write valid JSON): every constrained output parses
 * and validates against its schema (networknt), including outputs cut short by max_new_tokens; constrained rows
 * batch with unconstrained ones, which are unchanged; n > 1, resumption and refusals.
 */
class ConstrainedDecodingTest {
    static final int VOCAB = 3072 + 5;
    static final ModelConfig CONFIG = new ModelConfig(Architecture.LLAMA, VOCAB, 32, 64, 1, 4, 2, 8, 1e-5f, 10000,
            (Rope.Llama3Scaling) null, 1024, false, false, 0, 3071, List.of(3071));
    static Path dir;
    static LoadedModel model;
    static TokenVocabulary vocabulary;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void writeModel() throws Exception {
        dir = Files.createTempDirectory("constrained");
        ModelWriter.writeHuggingFace(dir, CONFIG, ModelWriter.randomWeights(CONFIG, 7), DType.F32);
        model = LoadedModel.open(dir);
        vocabulary = TokenVocabulary.fromTokenizerJson(Path.of("../models/boundless-world/tokenizer.json"), VOCAB);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Engine engine() {
        long budget = 256 * io.boundless.engine.kv.KvCache.bytesPerBlock(CONFIG, 4);
        Engine e = new Engine(model.weights(), new EngineConfig(16, budget, 512, 64, 256, 2));
        e.setVocabulary(vocabulary);
        return e;
    }

    static SamplingParams params(Constraint c, int maxTokens, long seed) {
        return new SamplingParams(1f, 0, 1f, 0, 1, 0, 0, seed, 0, List.of(), maxTokens, 0, false, Map.of(), c);
    }

    String text(List<Integer> ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            byte[] b = vocabulary.bytes(id);
            if (b != null) {
                out.writeBytes(b);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    static List<String> schemas() throws Exception {
        Class<?> c = Class.forName("io.boundless.engine.grammar.Schemas");
        java.lang.reflect.Field f = c.getDeclaredField("ALL");
        f.setAccessible(true);
        @SuppressWarnings("unchecked")
        List<String> all = (List<String>) f.get(null);
        return all;
    }

    @Test
    void everyOutputOfTheRandomModelParsesAndValidates() throws Exception {
        Engine e = engine();
        EngineTest.Collector col = new EngineTest.Collector();
        List<String> schemas = schemas();
        List<long[]> ids = new ArrayList<>();
        int[] prompt = {5, 6, 7, 8};
        for (int k = 0; k < schemas.size(); k++) {
            // a short budget for some: the output must still be complete
            int max = k % 3 == 0 ? 40 : 160;
            ids.add(e.submit(prompt, params(Constraint.jsonSchema(schemas.get(k)), max, k), 2, 0, col));
        }
        long plain = e.submit(prompt, params(null, 30, 99), 1, 0, col)[0];
        EngineTest.drain(e);
        SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
        int checked = 0;
        for (int k = 0; k < schemas.size(); k++) {
            for (long id : ids.get(k)) {
                assertThat(col.finished.get(id)).isNotNull();
                String out = text(col.tokens.get(id).stream().filter(t -> !CONFIG.eosIds().contains(t)).toList());
                var errors = registry.getSchema(schemas.get(k)).validate(JSON.readTree(out),
                        (java.util.function.Consumer<com.networknt.schema.ExecutionContext>) ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true)));
                assertThat(errors).as("%s against %s", out, schemas.get(k)).isEmpty();
                checked++;
            }
        }
        assertThat(checked).isEqualTo(2 * schemas.size());
        // the unconstrained row batched with them is what it is alone
        Engine alone = engine();
        EngineTest.Collector solo = new EngineTest.Collector();
        long only = alone.submit(prompt, params(null, 30, 99), 1, 0, solo)[0];
        EngineTest.drain(alone);
        assertThat(col.tokens.get(plain)).isEqualTo(solo.tokens.get(only));
        e.close();
        alone.close();
    }

    @Test
    void patternsChoicesAndGrammars() {
        Engine e = engine();
        EngineTest.Collector col = new EngineTest.Collector();
        int[] prompt = {10, 11};
        long re = e.submit(prompt, params(Constraint.regex("[A-Z]{3}-[0-9]{2,4}"), 20, 1), 4, 0, col)[0];
        long choice = e.submit(prompt, params(Constraint.choice(List.of("positive", "negative", "neutral")), 20, 2), 4, 0, col)[0];
        long gbnf = e.submit(prompt, params(Constraint.grammar("root ::= \"(\" item (\",\" item)* \")\"\nitem ::= [a-c]+\n"), 30, 3), 1, 0, col)[0];
        long obj = e.submit(prompt, params(Constraint.jsonObject(), 60, 4), 1, 0, col)[0];
        EngineTest.drain(e);
        for (int k = 0; k < 4; k++) {
            assertThat(text(col.tokens.get(re + k))).matches("[A-Z]{3}-[0-9]{2,4}");
            assertThat(text(strip(col.tokens.get(choice + k)))).isIn("positive", "negative", "neutral");
        }
        assertThat(text(strip(col.tokens.get(gbnf)))).matches("\\([a-c]+(,[a-c]+)*\\)");
        assertThat(text(strip(col.tokens.get(obj)))).satisfies(t -> assertThat(JSON.readTree(t).isObject()).isTrue());
        e.close();
    }

    static List<Integer> strip(List<Integer> ids) {
        return ids.stream().filter(t -> !CONFIG.eosIds().contains(t)).toList();
    }

    @Test
    void aResumedSampleContinuesItsConstrainedOutput() throws Exception {
        Constraint c = Constraint.jsonSchema(schemas().get(0));
        Engine e = engine();
        EngineTest.Collector col = new EngineTest.Collector();
        int[] prompt = {3, 4, 5};
        long whole = e.submit(prompt, params(c, 80, 5), 1, 0, col)[0];
        EngineTest.drain(e);
        List<Integer> all = col.tokens.get(whole);
        int[] head = all.subList(0, all.size() / 2).stream().mapToInt(Integer::intValue).toArray();
        long rest = e.resume(prompt, head, params(c, 80, 5), 0, 1, 0, col);
        EngineTest.drain(e);
        List<Integer> joined = new ArrayList<>();
        for (int t : head) {
            joined.add(t);
        }
        joined.addAll(col.tokens.get(rest));
        assertThat(joined).isEqualTo(all);
        assertThatThrownBy(() -> e.resume(prompt, new int[] {120} /* "x": no JSON starts so */, params(c, 80, 5), 0, 1, 0, col))
                .hasMessageContaining("breaks the constraint");
        e.close();
    }

    @Test
    void refusals() {
        Engine e = engine();
        EngineTest.Collector col = new EngineTest.Collector();
        assertThatThrownBy(() -> e.submit(new int[] {1}, params(Constraint.jsonSchema("{\"type\": \"array\", \"uniqueItems\": true}"), 10, 1), 1, 0, col))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("uniqueItems");
        assertThatThrownBy(() -> e.submit(new int[] {1}, params(Constraint.choice(List.of("a very long answer")), 5, 1), 1, 0, col))
                .hasMessageContaining("max_new_tokens 5 is too few for the choice: its shortest output takes 18 tokens");
        Engine bare = new Engine(model.weights(), new EngineConfig(4, 64 * io.boundless.engine.kv.KvCache.bytesPerBlock(CONFIG, 4), 256, 16, 64, 2));
        assertThatThrownBy(() -> bare.submit(new int[] {1}, params(Constraint.jsonObject(), 10, 1), 1, 0, col))
                .hasMessageContaining("need the model's vocabulary");
        assertThat(new Matcher(Constraint.jsonObject().grammar()).matches("{}")).isTrue();
        e.close();
        bare.close();
    }
}
