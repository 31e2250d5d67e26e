package io.boundless.tokenizer.hf;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.boundless.tokenizer.TestData;
import io.boundless.tokenizer.TestStores;
import io.boundless.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The encoders share a word cache and per-thread scratch space: threads must not see each other's work. */
class JavaEncoderConcurrencyTest {

    @Test
    void concurrentEncodesEqualSequentialOnes() throws Exception {
        List<String> texts = new ArrayList<>();
        for (JsonNode c : TestData.golden("llama3").get("cases")) {
            texts.add(c.get("text").asText());
        }
        for (String model : new String[] {"llama3/1", "qwen3/1", "llama2/1"}) {
            TextTokenizer t = TestStores.sharedRegistry().get(model).tokenizer();
            List<int[]> expected = texts.stream().map(s -> ((HuggingFaceTokenizer) t).encodeWithRust(s, true, false).ids()).toList();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<Boolean>> results = new ArrayList<>();
                for (int w = 0; w < 8; w++) {
                    int offset = w;
                    results.add(pool.submit(() -> {
                        for (int r = 0; r < 5; r++) {
                            for (int i = 0; i < texts.size(); i++) {
                                int k = (i + offset * 31) % texts.size();
                                if (!java.util.Arrays.equals(t.encode(texts.get(k), true, false).ids(), expected.get(k))) {
                                    return false;
                                }
                            }
                        }
                        return true;
                    }));
                }
                for (Future<Boolean> f : results) {
                    assertThat(f.get()).as(model).isTrue();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
