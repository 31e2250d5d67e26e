package io.boundless.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class TextsTest {

    @Test
    void replacesOnlyUnpairedSurrogates() {
        assertThat(Texts.wellFormed("ok 😀")).isEqualTo("ok 😀");
        assertThat(Texts.wellFormed("a\uD83Db")).isEqualTo("a\uFFFDb");
        assertThat(Texts.wellFormed("\uDE00x\uD83D")).isEqualTo("\uFFFDx\uFFFD");
        assertThat(Texts.wellFormed("\uD83D\uD83D\uDE00")).isEqualTo("\uFFFD😀");
    }

    @Test
    void utf8LengthMatchesTheEncoder() {
        for (String s : new String[] {"", "abc", "é", "中文", "😀👍🏽", "a\uD83Db"}) {
            assertThat(Texts.utf8Length(s)).as(s).isEqualTo(Texts.wellFormed(s).getBytes(StandardCharsets.UTF_8).length);
        }
    }

    @Test
    void unpairedSurrogatesEncodeAsTheReplacementCharacter() {
        TokenizerService service = new TokenizerService(TestStores.sharedRegistry(), new TokenizerService.Limits(1 << 20, 16, 1 << 20, 64, 8));
        for (String model : new String[] {"llama3/1", "cl100k_base"}) {
            int[] lone = service.encode(model, "x\uD800y", 5, false, false).ids();
            int[] replaced = service.encode(model, "x\uFFFDy", 5, false, false).ids();
            assertThat(lone).as(model).containsExactly(replaced);
        }
    }
}
