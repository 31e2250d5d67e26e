package io.boundless.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every sentence of a schema's grammar is JSON that validates against the schema, checked by an independent
 * validator (networknt, draft 2020-12, formats asserted) on random walks through the grammar; and the
 * grammar takes the ordinary valid documents and refuses invalid ones.
 */
class JsonSchemaTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    static List<com.networknt.schema.Error> validate(String schema, String document) throws Exception {
        Schema s = REGISTRY.getSchema(schema);
        JsonNode node = JSON.readTree(document);
        Consumer<com.networknt.schema.ExecutionContext> formats = ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true));
        return s.validate(node, formats);
    }

    static Stream<String> schemas() {
        return Schemas.ALL.stream();
    }

    @ParameterizedTest
    @MethodSource("schemas")
    void everySentenceParsesAndValidates(String schema) throws Exception {
        Matcher m = new Matcher(JsonSchema.compile(schema));
        SplittableRandom rnd = new SplittableRandom(schema.hashCode());
        for (int k = 0; k < 40; k++) {
            String doc = GrammarTestSupport.randomSentence(m, rnd, 400, 0.15);
            JsonNode parsed = JSON.readTree(doc); // throws if it is not JSON
            assertThat(parsed).as(doc).isNotNull();
            assertThat(validate(schema, doc)).as("%s against %s", doc, schema).isEmpty();
        }
    }

    @Test
    void takesValidDocumentsAndRefusesInvalidOnes() {
        Matcher person = new Matcher(JsonSchema.compile(Schemas.ALL.get(0)));
        assertThat(person.matches("{\"name\": \"Ada\", \"age\": 36}")).isTrue();
        assertThat(person.matches("{\n  \"name\": \"Ada\",\n  \"age\": -1\n}")).isTrue();
        assertThat(person.matches("{\"name\": \"Ada\"}")).as("age is required").isFalse();
        assertThat(person.matches("{\"name\": 3, \"age\": 1}")).isFalse();
        assertThat(person.matches("{\"name\": \"Ada\", \"age\": 1.5}")).isFalse();
        Matcher bounded = new Matcher(JsonSchema.compile("{\"type\": \"integer\", \"minimum\": -50, \"maximum\": 1234}"));
        for (int v = -60; v <= 1300; v++) {
            assertThat(bounded.matches(Integer.toString(v))).as("%d", v).isEqualTo(v >= -50 && v <= 1234);
        }
        Matcher unit = new Matcher(JsonSchema.compile("{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}"));
        assertThat(List.of("0", "0.5", "1", "1.000", "0.999").stream().allMatch(unit::matches)).isTrue();
        assertThat(List.of("1.5", "-0.1", "2", "1.01").stream().noneMatch(unit::matches)).isTrue();
        Matcher tree = new Matcher(JsonSchema.compile(Schemas.ALL.get(29)));
        assertThat(tree.matches("{\"value\": 1, \"children\": [{\"value\": 2}, {\"value\": 3, \"children\": []}]}")).isTrue();
        assertThat(tree.matches("{\"value\": 1, \"children\": [{\"children\": []}]}")).isFalse();
        Matcher any = new Matcher(JsonSchema.anyObject());
        assertThat(any.matches("{\"a\": [1, {\"b\": null}], \"c\": \"\\u00e9\\n\"}")).isTrue();
        assertThat(any.matches("[1]")).as("json_object is an object").isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"type\": \"string\", \"contentEncoding\": \"base64\"}",
        "{\"type\": \"object\", \"patternProperties\": {\"^x\": {}}}",
        "{\"type\": \"array\", \"uniqueItems\": true}",
        "{\"type\": \"number\", \"multipleOf\": 3}",
        "{\"type\": \"string\", \"format\": \"hostname\"}",
        "{\"type\": \"number\", \"minimum\": 0.5}",
        "{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}",
        "{\"allOf\": [{\"type\": \"string\"}, {\"maxLength\": 3}]}",
        "{\"$ref\": \"https://example.com/s.json\"}",
        "{\"type\": \"wat\"}",
        "false"})
    void whatItCannotHonourIsRefusedByName(String schema) {
        assertThatThrownBy(() -> JsonSchema.compile(schema)).isInstanceOf(GrammarException.class).hasMessageNotContaining("Exception");
    }

    @Test
    void theRefusalNamesTheKeywordAndWhereItIs() {
        assertThatThrownBy(() -> JsonSchema.compile("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"array\", \"uniqueItems\": true}}}"))
                .hasMessage("#/properties/a: the JSON schema keyword 'uniqueItems' is not supported");
    }
}
