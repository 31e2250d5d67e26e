package io.boundless.tokenizer.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.ParameterizedTest;

/**
 * Where @huggingface/jinja (our golden reference) departs from Python's Jinja, Hugging Face's
 * Python renderer is the one transformers uses, so we follow Python. These expectations are
 * Python 3 / Jinja 3 behaviour.
 */
class PythonSemanticsTest {

    private static String render(String source, Map<String, Object> vars) {
        return ChatTemplate.compile(source).render(vars);
    }

    private static String render(String source) {
        return render(source, Map.of());
    }

    @Test
    void stripFamilyTakesCharacterSets() {
        assertThat(render("{{ 'Hello, World'.lstrip('H') }}|{{ 'Hello, World'.rstrip('dl') }}|{{ 'xxaxx'.strip('x') }}"))
                .isEqualTo("ello, World|Hello, Wor|a");
    }

    @Test
    void capitalizeLowersTheRest() {
        assertThat(render("{{ 'hELLO'|capitalize }} {{ 'hELLO'.capitalize() }}")).isEqualTo("Hello Hello");
    }

    @Test
    void nonStringsPrintAsPythonStr() {
        Map<String, Object> vars = new HashMap<>();
        vars.put("nothing", null);
        assertThat(render("{{ true }} {{ nothing }} {{ ['a', 1, none] }} {{ {'k': 'v'} }} {{ 1.5 }} {{ 2.0 }} {{ 10 / 4 }}", vars))
                .isEqualTo("True None ['a', 1, None] {'k': 'v'} 1.5 2.0 2.5");
    }

    @Test
    void undefinedRendersEmptyButFailsOnAttributeAccess() {
        assertThat(render("[{{ missing }}]")).isEqualTo("[]");
        assertThatThrownBy(() -> render("{{ missing.attr }}")).isInstanceOf(TemplateException.class).hasMessageContaining("attr");
    }

    @Test
    void stringOperationsPythonHasAndTheJsPortLacks() {
        assertThat(render("{{ 'ab' * 3 }} {{ 'a' < 'b' }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ 2.567|round(1) }}"))
                .isEqualTo("ababab True 2 2 [1, 3] 2.6");
    }

    @Test
    void loopScopingKeepsOuterVariablesButNamespacesCarryOut() {
        assertThat(render("{% set x = 0 %}{% set ns = namespace(x=0) %}{% for i in [1, 2, 3] %}{% set x = i %}{% set ns.x = ns.x + i %}{% endfor %}{{ x }} {{ ns.x }}"))
                .isEqualTo("0 6");
    }

    @Test
    void raiseExceptionCarriesTheMessage() {
        assertThatThrownBy(() -> render("{{ raise_exception('roles must alternate') }}"))
                .isInstanceOf(TemplateException.class).hasMessage("roles must alternate");
    }

    @Test
    void syntaxErrorsNameTheLine() {
        assertThatThrownBy(() -> ChatTemplate.compile("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}"))
                .isInstanceOf(TemplateException.class).hasMessageContaining("line 3");
        assertThatThrownBy(() -> ChatTemplate.compile("{% for x in y %}no end")).isInstanceOf(TemplateException.class).hasMessageContaining("endfor");
        assertThatThrownBy(() -> ChatTemplate.compile("{{ 'open")).isInstanceOf(TemplateException.class);
    }

    @Test
    void runawayTemplatesStopWithAnError() {
        assertThatThrownBy(() -> render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"))
                .isInstanceOf(TemplateException.class).hasMessageContaining("recursed");
        assertThatThrownBy(() -> render("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"))
                .isInstanceOf(TemplateException.class).hasMessageContaining("exceeds");
    }

    /** Any input either renders or fails with a TemplateException: no other exception, no hang. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("io.boundless.engine.Seeds#fixedAndRandom")
    void garbageTemplatesFailCleanly(long seed) {
        String[] atoms = {"{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "if", "for", "in", "endif", "endfor", "set", "=", "x", "'s'", "\"",
            "(", ")", "[", "]", "{", "}", ":", ",", ".", "|", "upper", "is", "not", "defined", "1", "2.5", "~", "*", "/", "%", "**", "messages",
            "loop", "macro", "endmacro", "namespace", " ", "\n", "raise_exception", "else", "elif", "break", "continue", "::-1", "none"};
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Object> vars = new HashMap<>();
        List<Object> messages = new ArrayList<>();
        messages.add(Map.of("role", "user", "content", "hi"));
        vars.put("messages", messages);
        vars.put("x", 3L);
        for (int i = 0; i < 20_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(1, 16);
            for (int k = 0; k < n; k++) {
                sb.append(atoms[rnd.nextInt(atoms.length)]).append(rnd.nextBoolean() ? " " : "");
            }
            String source = sb.toString();
            try {
                ChatTemplate.compile(source).render(vars);
            } catch (TemplateException expected) {
                // fine: a clear template error
            } catch (RuntimeException e) {
                throw new AssertionError("seed " + seed + ": template " + source + " threw " + e, e);
            }
        }
    }

    @Test
    void mapSelectRejectUniqueAndReverseAreGenerators() {
        // A generator iterates once, is always true, and has no length, no index and no JSON form.
        assertThat(render("{% set g = [1, 2, 3]|map('string') %}{% for x in g %}{{ x }}{% endfor %}|{% for x in g %}{{ x }}{% endfor %}"
                + "|{{ 'yes' if [] | select else 'no' }}|{{ ([1]|map('string'))[0] }}|{{ [1, 2]|reverse|list }}")).isEqualTo("123||yes||[2, 1]");
        assertThatThrownBy(() -> render("{{ [1]|map('string')|tojson }}")).hasMessageContaining("generator is not JSON serializable");
        assertThatThrownBy(() -> render("{{ [1]|map('string')|length }}")).hasMessageContaining("'generator' has no len()");
        // map and select of None are empty (Jinja starts with "if value:"), as functionary's template relies on.
        assertThat(render("{{ none|selectattr('type', 'equalto', 'x')|list }}{{ none|map('upper')|list }}")).isEqualTo("[][]");
        assertThat(render("{{ ['a', 'A', 'b']|unique|list }}")).isEqualTo("['a', 'b']");
    }

    @Test
    void safeStringsEscapeWhatIsAddedToThem() {
        assertThat(render("{{ 'a<b'|safe + '<i>' }}|{{ '<i>' + 'a<b'|safe }}|{{ '<i>' ~ 'a<b'|safe }}|{{ ('x'|safe) == 'x' }}"))
                .isEqualTo("a<b&lt;i&gt;|&lt;i&gt;a<b|<i>a<b|True");
    }

    @Test
    void strFormat() {
        assertThat(render("{{ '{}-{}-{x}'.format('a', 'b', x='c') }}|{{ '{1}{0}'.format('a', 'b') }}|{{ '{{}}{}'.format(1) }}"
                + "|{{ '{m[k]}{m.k}'.format(m={'k': 'v'}) }}")).isEqualTo("a-b-c|ba|{}1|vv");
        assertThatThrownBy(() -> render("{{ '{}{0}'.format(1) }}")).hasMessageContaining("cannot switch from manual field");
    }

    @Test
    void minMaxSortAndDictsortIgnoreCaseAndKeysKeepTheirType() {
        assertThat(render("{{ [3, 1, 2]|min }}{{ [3, 1, 2]|max }}{{ ['b', 'A', 'c']|min }}{{ [{'n': 2}, {'n': 1}]|min(attribute='n') }}"))
                .isEqualTo("13A{'n': 1}");
        assertThat(render("{% for k, v in {'b': 1, 'A': 2, 'c': 3}|dictsort %}{{ k }}{% endfor %}"
                + "|{% for k, v in {10: 'x', 2: 'y'}|dictsort %}{{ k }}{% endfor %}|{{ {0: 'zero'}[0] }}|{{ {0: 1}['0'] }}|{{ ['B', 'a', 'C']|sort|join }}"))
                .isEqualTo("Abc|210|zero||aBC");
    }

    @Test
    void filterBlocksAndJsonDumpsOptions() {
        assertThat(render("{% filter upper %}ab{{ 'c' }}{% endfilter %}|{% filter replace('a', 'x') | upper %}aa{% endfilter %}"))
                .isEqualTo("ABC|XX");
        assertThat(render("{{ {'a': 'é', 'b': [1, 2]}|tojson(ensure_ascii=True, separators=(',', ':')) }}"))
                .isEqualTo("{\"a\":\"\\u00e9\",\"b\":[1,2]}");
        assertThat(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true, indent=2) }}")).isEqualTo("{\n  \"a\": 2,\n  \"b\": 1\n}");
        assertThat(render("{{ {1: 'x', none: 'y'}|tojson }}")).isEqualTo("{\"1\": \"x\", \"null\": \"y\"}");
    }
}
