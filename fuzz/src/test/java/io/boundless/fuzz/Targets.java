package io.boundless.fuzz;

import java.util.List;

/** Every fuzz target: a parser that takes outside input, and its seeds under testdata/fuzz/<name>/. */
final class Targets {
    record Target(String name, String className, String what) {}

    static final List<Target> ALL = List.of(
            new Target("openai-body", "io.boundless.router.openai.OpenAiBodyFuzz", "OpenAI completion and chat bodies"),
            new Target("grammar", "io.boundless.fuzz.GrammarFuzz", "JSON schema, regex, GBNF, choice constraints"),
            new Target("chat-template", "io.boundless.fuzz.ChatTemplateFuzz", "chat templates (Jinja), compiled and rendered"),
            new Target("tokenizer-files", "io.boundless.fuzz.TokenizerFilesFuzz", "tokenizer.json and tokenizer_config.json"),
            new Target("safetensors", "io.boundless.fuzz.SafetensorsFuzz", "safetensors headers"),
            new Target("gguf", "io.boundless.fuzz.GgufFuzz", "GGUF headers, metadata and embedded tokenizers"),
            new Target("deployment-yaml", "io.boundless.fuzz.DeploymentYamlFuzz", "ModelDeployment YAML"),
            new Target("delta-manifest", "io.boundless.fuzz.DeltaManifestFuzz", "knowledge-edit delta manifests"),
            new Target("proto-request", "io.boundless.inference.grpc.ProtoRequestFuzz", "protobuf GenerateRequests through validation"));

    private Targets() {}
}
