package io.boundless.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What boundless up needs to know of a ModelDeployment file before the router reads it whole: the model's name and its
 * versions' model-store sources (the first version's source names the tokenizer). The router checks everything else
 * and refuses the file with every problem named.
 */
record Deployment(String model, List<String> sources) {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    static Deployment read(Path file) {
        JsonNode root;
        try {
            root = YAML.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ModelSource.Refused("cannot read the deployment " + file + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
        JsonNode spec = root == null ? null : root.path("spec");
        String model = spec == null ? "" : spec.path("model").asText("");
        if (model.isBlank()) {
            throw new ModelSource.Refused(file + ": spec.model (the name clients send) is required");
        }
        List<String> sources = new ArrayList<>();
        for (JsonNode v : spec.path("versions")) {
            String s = v.path("source").asText("");
            if (s.isBlank()) {
                throw new ModelSource.Refused(file + ": every entry of spec.versions needs a source (its directory in the model store)");
            }
            sources.add(s);
        }
        if (sources.isEmpty()) {
            throw new ModelSource.Refused(file + ": spec.versions needs at least one entry");
        }
        return new Deployment(model, List.copyOf(sources));
    }
}
