package io.boundless.tokenizer.hf;

import io.boundless.engine.Seeds;
import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.tokenizer.TestData;
import io.boundless.tokenizer.TestStores;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The pure-Java encoder gives the Rust library's ids on random text built to hit the edges: every
 * script class the pre-tokenizer regex distinguishes, whitespace kinds, contractions, digits,
 * emoji sequences, combining marks, added-token literals, random code points and long runs.
 */
class JavaEncoderDifferentialTest {

    static Stream<Arguments> models() {
        return Stream.of("llama3/1", "qwen3/1", "llama2/1").map(Arguments::of);
    }

    private static final String[] POOL = {
        "a", "Z", "hello", " world", "The", "ſ", "K", "ß", "ǅ", "'s", "'S", "'ll", "'LL", "'Re", "'d", "'", "\"", "don't",
        "0", "7", "123", "4567", "3.14", "١٢٣", "Ⅻ", "½", "²",
        " ", "  ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2028", "\u2003", "\u000B", "\u0085", "\u200B",
        "!", "?", "...", "—", "(", ")", "{}", "<", ">", "=>", "#", "@", "_", "-", "€", "©", "\\", "/", "|", "`",
        "中", "文字", "日本語", "カタカナ", "ｶﾀｶﾅ", "한국어", "العربية", "עברית", "हिन्दी", "ไทย", "Ελληνικά", "Русский",
        "e\u0301", "\u0301", "n\u0303", "\u0915\u094D\u0937", "\u0651", "ﬁ",
        "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇯🇵", "\uFE0F", "\u200D", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀",
        "<|begin_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<s>", "</s>", "<unk>",
        "<|endoftext|>", "<|im_start", "<s", "▁", "▁▁", "<0x41>",
    };

    private static String randomText(SplittableRandom rnd) {
        StringBuilder sb = new StringBuilder();
        int parts = rnd.nextInt(1, 24);
        for (int i = 0; i < parts; i++) {
            int kind = rnd.nextInt(10);
            if (kind < 7) {
                sb.append(POOL[rnd.nextInt(POOL.length)]);
            } else if (kind == 7) { // a random code point (no lone surrogates)
                int cp;
                do {
                    cp = rnd.nextInt(4) == 0 ? rnd.nextInt(0x10000, 0x30000) : rnd.nextInt(0x20, 0x10000);
                } while (Character.getType(cp) == Character.SURROGATE || Character.getType(cp) == Character.UNASSIGNED);
                sb.appendCodePoint(cp);
            } else if (kind == 8) { // a run
                sb.append(POOL[rnd.nextInt(POOL.length)].repeat(rnd.nextInt(2, 40)));
            } else {
                sb.append((char) rnd.nextInt(0x20, 0x7F));
            }
        }
        return sb.toString();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void javaEncoderMatchesRustOnRandomText(String model) {
        HuggingFaceTokenizer t = (HuggingFaceTokenizer) TestStores.sharedRegistry().get(model).tokenizer();
        assertThat(t.hasJavaEncoder()).as("the Java encoder covers " + model).isTrue();
        for (long seed : Seeds.both()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = 0; i < 3000; i++) {
                String text = randomText(rnd);
                boolean special = rnd.nextBoolean();
                assertThat(t.encode(text, special, false).ids())
                        .as("seed %d, text %s, add_special_tokens %s", seed, escape(text), special)
                        .containsExactly(t.encodeWithRust(text, special, false).ids());
            }
        }
    }

    /**
     * Found by the random test (seed 7430381833098874294, qwen3): U+1AC3 is new in Unicode 14.0; the
     * JDK's NFC reorders it after U+0651, the Rust library's does not. Such text goes to Rust.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void charactersNewerThanUnicode13AreEncodedAsRustEncodesThem(String model) {
        HuggingFaceTokenizer t = (HuggingFaceTokenizer) TestStores.sharedRegistry().get(model).tokenizer();
        for (String text : new String[] {"\uD55C\uAD6D\uC5B4\u1AC3\u0651", "a\u1AC3\u0651b", "x\u0651\u1AC3", "\uD83E\uDEE8 new"}) {
            assertThat(t.encode(text, true, false).ids()).as(escape(text)).containsExactly(t.encodeWithRust(text, true, false).ids());
        }
        assertThat(UnicodeAge.assignedBy13(0x1AC3)).isFalse();
        assertThat(UnicodeAge.assignedBy13(0x0651)).isTrue();
        assertThat(UnicodeAge.assignedBy13(0x1FAE8)).isFalse(); // an emoji of Unicode 15.0
        assertThat(UnicodeAge.allAssignedBy13("plain ASCII, 中文, 😀")).isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void javaEncoderMatchesRustOnLongInputs(String model) {
        HuggingFaceTokenizer t = (HuggingFaceTokenizer) TestStores.sharedRegistry().get(model).tokenizer();
        StringBuilder doc = new StringBuilder();
        TestData.golden("llama3").get("cases").forEach(c -> doc.append(c.get("text").asText()).append(' '));
        for (String text : new String[] {doc.toString(), "a".repeat(20_000), " ".repeat(5_000) + "x", "中".repeat(10_000), doc.toString().repeat(20)}) {
            assertThat(t.encode(text, true, false).ids()).as("%s chars", text.length()).containsExactly(t.encodeWithRust(text, true, false).ids());
        }
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp < 0x20 || cp > 0x7E) {
                sb.append(String.format("\\u{%X}", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.append('"').toString();
    }
}
