package io.boundless.router.tools;

import static org.assertj.core.api.Assertions.assertThat;

import io.boundless.router.tools.ToolCalls.Call;
import io.boundless.router.tools.ToolCalls.Format;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Tool calls read from each family's output, whole and streamed in random pieces: the streamed deltas add up to
 * the whole output's content and calls, and text that only looks like a call stays content.
 */
class ToolCallsTest {
    static final String PARIS = "{\"city\": \"Paris\"}";
    static final String ROME = "{\"city\": \"Rome\", \"unit\": \"celsius\"}";

    record Case(Format format, String text, String content, List<Call> calls) {}

    static List<Case> cases() {
        Call paris = new Call("get_weather", PARIS, true);
        Call rome = new Call("get_weather", ROME, true);
        return List.of(
                new Case(Format.HERMES, "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + PARIS + "}\n</tool_call>",
                        "Let me check.\n", List.of(paris)),
                new Case(Format.HERMES, "<tool_call>\n{\"arguments\": " + PARIS + ", \"name\": \"get_weather\"}\n</tool_call>\n<tool_call>\n"
                        + "{\"name\": \"get_weather\", \"arguments\": " + ROME + "}\n</tool_call>", "", List.of(paris, rome)),
                new Case(Format.LLAMA3_JSON, "{\"name\": \"get_weather\", \"parameters\": " + PARIS + "}", "", List.of(paris)),
                new Case(Format.LLAMA3_JSON, "{\"name\": \"get_weather\", \"parameters\": " + PARIS + "}; {\"name\": \"get_weather\", \"parameters\": "
                        + ROME + "}", "", List.of(paris, rome)),
                new Case(Format.MISTRAL, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": " + PARIS + "}]", "", List.of(paris)),
                new Case(Format.MISTRAL, "get_weather" + PARIS + "get_weather" + ROME, "", List.of(paris, rome)),
                new Case(Format.MISTRAL, "[TOOL_CALLS]get_weather[ARGS]" + PARIS, "", List.of(paris)),
                new Case(Format.GRANITE, "[{\"name\": \"get_weather\", \"arguments\": " + PARIS + "}, {\"name\": \"get_weather\", \"arguments\": "
                        + ROME + "}]", "", List.of(paris, rome)),
                new Case(Format.FUNCTIONARY, "<function=get_weather>" + PARIS + "</function>", "", List.of(paris)),
                new Case(Format.JSON, "[{\"name\": \"get_weather\", \"arguments\": " + PARIS + "}]", "", List.of(paris)),
                new Case(Format.JSON, "{\"name\": \"get_weather\", \"arguments\": " + ROME + "}", "", List.of(rome)),
                new Case(Format.ARGUMENTS, PARIS, "", List.of(paris)),
                // arguments given as a JSON string holding the object
                new Case(Format.HERMES, "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}</tool_call>", "",
                        List.of(paris)),
                // not calls: content as it is
                new Case(Format.HERMES, "The weather is nice.", "The weather is nice.", List.of()),
                new Case(Format.HERMES, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": ", "<tool_call>{\"name\": \"get_weather\","
                        + " \"arguments\": {\"city\": ", List.of()),
                new Case(Format.LLAMA3_JSON, "Paris is sunny.", "Paris is sunny.", List.of()),
                new Case(Format.LLAMA3_JSON, "{\"answer\": 4}", "{\"answer\": 4}", List.of()));
    }

    @Test
    void wholeOutputs() {
        for (Case c : cases()) {
            var p = ToolCalls.parse(c.format(), c.text(), true, "get_weather");
            assertThat(p.content()).as("%s %s", c.format(), c.text()).isEqualTo(c.content());
            assertThat(p.calls()).as("%s %s", c.format(), c.text()).isEqualTo(c.calls());
        }
    }

    @Test
    void streamedInRandomPiecesTheDeltasAddUpToTheWhole() {
        SplittableRandom rnd = new SplittableRandom(5);
        for (Case c : cases()) {
            for (int trial = 0; trial < 20; trial++) {
                ToolCalls.Stream s = new ToolCalls.Stream(c.format(), "get_weather", k -> "id" + k);
                List<ToolCalls.Delta> all = new ArrayList<>();
                int i = 0;
                while (i < c.text().length()) {
                    int n = 1 + rnd.nextInt(6);
                    all.addAll(s.feed(c.text().substring(i, Math.min(c.text().length(), i + n))));
                    i += n;
                }
                all.addAll(s.finish());
                StringBuilder content = new StringBuilder();
                List<StringBuilder> args = new ArrayList<>();
                List<String> names = new ArrayList<>();
                for (var d : all) {
                    if (d.isContent()) {
                        content.append(d.content());
                        continue;
                    }
                    if (d.id() != null) {
                        assertThat(d.index()).isEqualTo(names.size());
                        assertThat(d.id()).isEqualTo("id" + d.index());
                        names.add(d.name());
                        args.add(new StringBuilder());
                    }
                    args.get(d.index()).append(d.arguments());
                }
                String label = c.format() + " " + c.text();
                if (c.calls().isEmpty()) {
                    assertThat(content.toString()).as(label).isEqualTo(c.text());
                    continue;
                }
                assertThat(content.toString()).as(label).isEqualTo(c.content());
                assertThat(names).as(label).isEqualTo(c.calls().stream().map(Call::name).toList());
                for (int k = 0; k < c.calls().size(); k++) {
                    assertThat(args.get(k).toString().strip()).as(label).isEqualTo(c.calls().get(k).arguments());
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"hermes,HERMES", "llama3_json,LLAMA3_JSON", "mistral,MISTRAL", "granite,GRANITE", "functionary,FUNCTIONARY", "nope,"})
    void formatsByName(String name, Format f) {
        assertThat(Format.of(name)).isEqualTo(f);
    }
}
