package io.boundless.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.boundless.tokenizer.hf.HuggingFaceTokenizer;
import io.boundless.tokenizer.template.ChatTemplate;
import io.boundless.tokenizer.template.TemplateException;
import io.boundless.tokenizer.tiktoken.TiktokenTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds and caches tokenizers by model name. Names are built-in tiktoken encodings
 * ({@code cl100k_base}, {@code o200k_base}) or model-store entries: {@code <model>/<version>}, or
 * {@code <model>} for its newest version, laid out as
 * {@code <store>/<model>/<version>/tokenizer.json + tokenizer_config.json}.
 */
public final class TokenizerRegistry implements AutoCloseable {
    private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]*");
    private static final Pattern NUMBER = Pattern.compile("\\d+");

    private final Path store;
    private final ObjectMapper json;
    private final Map<String, ModelTokenizer> loaded = new ConcurrentHashMap<>();
    /** "<model>" -> its newest "<model>/<version>", re-read from the store at most every {@link #RESOLVE_TTL_NANOS}. */
    private final Map<String, Resolved> newest = new ConcurrentHashMap<>();
    private static final long RESOLVE_TTL_NANOS = 5_000_000_000L;

    private record Resolved(String name, long at) {}

    public TokenizerRegistry(Path store, ObjectMapper json) {
        this.store = store;
        this.json = json;
    }

    public Path store() {
        return store;
    }

    /** The tokenizer for a model name; loads it on first use. */
    public ModelTokenizer get(String model) {
        if (model == null || model.isEmpty()) {
            throw new InvalidRequestException("model is required: a model-store name or one of " + TiktokenTokenizer.builtInNames());
        }
        ModelTokenizer hit = loaded.get(model);
        if (hit != null) {
            return hit; // a built-in or an exact "<model>/<version>"
        }
        String resolved;
        if (isStoreModelWithoutVersion(model)) {
            // A new version published to the store is picked up within the TTL.
            long now = System.nanoTime();
            Resolved r = newest.get(model);
            if (r == null || now - r.at() > RESOLVE_TTL_NANOS) {
                r = new Resolved(resolve(model), now);
                newest.put(model, r);
            }
            resolved = r.name();
        } else {
            resolved = resolve(model);
        }
        return loaded.computeIfAbsent(resolved, this::load);
    }

    /** Names of the tokenizers loaded so far. */
    public List<String> loadedModels() {
        return loaded.keySet().stream().sorted().toList();
    }

    private boolean isStoreModelWithoutVersion(String model) {
        return !TiktokenTokenizer.isBuiltIn(model) && !model.contains("/");
    }

    /** Maps a request's name to a canonical one: built-in, or {@code model/version}. */
    String resolve(String model) {
        if (TiktokenTokenizer.isBuiltIn(model)) {
            return model;
        }
        String[] parts = model.split("/", -1);
        if (parts.length > 2 || Stream.of(parts).anyMatch(p -> !SEGMENT.matcher(p).matches() || p.equals("..") || p.equals("."))) {
            throw new InvalidRequestException("model name '" + model + "' is not <model> or <model>/<version> of letters, digits, '.', '_', '+', '-'");
        }
        Path modelDir = store.resolve(parts[0]);
        if (parts.length == 2) {
            if (!hasTokenizer(modelDir.resolve(parts[1]))) {
                throw unknown(model);
            }
            return model;
        }
        List<String> versions = new ArrayList<>();
        try (Stream<Path> s = Files.list(modelDir)) {
            s.filter(TokenizerRegistry::hasTokenizer).forEach(p -> versions.add(p.getFileName().toString()));
        } catch (IOException e) {
            throw unknown(model);
        }
        if (versions.isEmpty()) {
            throw unknown(model);
        }
        versions.sort(VERSION_ORDER);
        return parts[0] + "/" + versions.getLast();
    }

    /** A version directory holds a tokenizer: tokenizer.json, or a GGUF file whose metadata carries one. */
    private static boolean hasTokenizer(Path versionDir) {
        return Files.isRegularFile(versionDir.resolve("tokenizer.json")) || gguf(versionDir) != null;
    }

    /** The one .gguf file of a version directory without tokenizer.json, or null. */
    private static Path gguf(Path versionDir) {
        if (!Files.isDirectory(versionDir) || Files.isRegularFile(versionDir.resolve("tokenizer.json"))) {
            return null;
        }
        try (Stream<Path> s = Files.list(versionDir)) {
            List<Path> g = s.filter(p -> p.getFileName().toString().endsWith(".gguf") && Files.isRegularFile(p)).sorted().toList();
            return g.isEmpty() ? null : g.getFirst();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * A GGUF model's tokenizer as tokenizer.json and tokenizer_config.json (its chat template included), written to a
     * directory of their own; refusals (a tokenizer model or pre-tokenizer we do not reproduce) name the file.
     */
    private static Path convertGguf(Path file) {
        try (io.boundless.engine.format.Gguf g = io.boundless.engine.format.Gguf.open(file)) {
            var files = io.boundless.engine.format.GgufTokenizer.convert(g.metadata());
            Path dir = Files.createTempDirectory("boundless-gguf-tokenizer-");
            Files.writeString(dir.resolve("tokenizer.json"), files.tokenizerJson());
            Files.writeString(dir.resolve("tokenizer_config.json"), files.tokenizerConfigJson());
            dir.toFile().deleteOnExit();
            dir.resolve("tokenizer.json").toFile().deleteOnExit();
            dir.resolve("tokenizer_config.json").toFile().deleteOnExit();
            return dir;
        } catch (io.boundless.engine.format.ModelFormatException e) {
            throw new ModelLoadException(file + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new ModelLoadException("cannot convert the tokenizer of " + file + ": " + e.getMessage(), e);
        }
    }

    private UnknownModelException unknown(String model) {
        return new UnknownModelException("model '" + model + "' not found: not a built-in encoding "
                + TiktokenTokenizer.builtInNames() + " and no tokenizer.json under " + store.resolve(model.contains("/") ? model : model + "/<version>"));
    }

    /** Version names compare by their numbers where they have them (v10 after v9), else as text. */
    static final Comparator<String> VERSION_ORDER = (a, b) -> {
        Matcher ma = NUMBER.matcher(a);
        Matcher mb = NUMBER.matcher(b);
        int ia = 0;
        int ib = 0;
        while (ma.find(ia) && mb.find(ib)) {
            int c = a.substring(ia, ma.start()).compareTo(b.substring(ib, mb.start()));
            if (c != 0) {
                return c;
            }
            c = new java.math.BigInteger(ma.group()).compareTo(new java.math.BigInteger(mb.group()));
            if (c != 0) {
                return c;
            }
            ia = ma.end();
            ib = mb.end();
        }
        return a.substring(ia).compareTo(b.substring(ib));
    };

    private ModelTokenizer load(String name) {
        if (TiktokenTokenizer.isBuiltIn(name)) {
            TiktokenTokenizer t = TiktokenTokenizer.named(name);
            var specials = t.specialTokens();
            Integer eos = specials.getFirst().id(); // <|endoftext|>
            Map<String, Object> globals = Map.of("eos_token", "<|endoftext|>", "bos_token", "");
            return new ModelTokenizer(t, new TokenizerInfo(name, TokenizerInfo.Kind.TIKTOKEN, t.vocabSize(), specials,
                    null, eos, 0, false), null, globals);
        }
        Path dir = store.resolve(name);
        Path ggufFile = gguf(dir);
        if (ggufFile != null) {
            dir = convertGguf(ggufFile);
        }
        HuggingFaceTokenizer t = HuggingFaceTokenizer.load(dir.resolve("tokenizer.json"), json);
        try {
            JsonNode config = json.createObjectNode();
            Path configFile = dir.resolve("tokenizer_config.json");
            if (Files.isRegularFile(configFile)) {
                config = json.readTree(configFile.toFile());
            }
            Map<String, Object> globals = new HashMap<>();
            for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")) {
                String v = tokenText(config.get(key));
                if (v != null) {
                    globals.put(key, v);
                }
            }
            List<Object> additional = new ArrayList<>();
            config.path("additional_special_tokens").forEach(n -> additional.add(tokenText(n)));
            globals.put("additional_special_tokens", additional);

            String templateSource = chatTemplateSource(config.get("chat_template"));
            Path templateOrigin = configFile;
            // transformers (4.43 on, and every save_pretrained of version 5) keeps the template in its own files,
            // which replace tokenizer_config.json's: chat_template.jinja is the default, chat_templates/<name>.jinja named ones
            Path jinja = dir.resolve(CHAT_TEMPLATE_FILE);
            Path named = dir.resolve(CHAT_TEMPLATE_DIR);
            if (Files.isRegularFile(jinja)) {
                templateSource = Files.readString(jinja);
                templateOrigin = jinja;
            } else if (Files.isDirectory(named) && hasJinja(named)) {
                Path def = named.resolve("default.jinja");
                templateSource = Files.isRegularFile(def) ? Files.readString(def) : null;
                templateOrigin = def;
            }
            ChatTemplate template = null;
            if (templateSource != null) {
                try {
                    template = ChatTemplate.compile(templateSource);
                } catch (TemplateException e) {
                    throw new ModelLoadException("the chat template in " + templateOrigin + " does not parse: " + e.getMessage(), e);
                }
            }
            long maxLength = 0;
            JsonNode ml = config.get("model_max_length");
            if (ml != null && ml.isNumber() && ml.asDouble() > 0 && ml.asDouble() < 1e15) {
                maxLength = ml.asLong();
            }
            Integer bos = globals.get("bos_token") instanceof String s ? t.idOf(s) : null;
            Integer eos = globals.get("eos_token") instanceof String s ? t.idOf(s) : null;
            return new ModelTokenizer(t, new TokenizerInfo(name, TokenizerInfo.Kind.HUGGING_FACE, t.vocabSize(),
                    t.specialTokens(), bos, eos, maxLength, template != null), template, globals);
        } catch (IOException e) {
            t.close();
            throw new ModelLoadException("cannot read tokenizer_config.json of " + name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /** tokenizer_config.json writes a token as "text" or as an AddedToken object {"content": ...}. */
    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        return n.isTextual() ? n.asText() : n.path("content").isTextual() ? n.path("content").asText() : null;
    }

    /** A model's own chat template file, as transformers' save_pretrained writes it. */
    public static final String CHAT_TEMPLATE_FILE = "chat_template.jinja";
    /** transformers' folder of named chat templates ({@code <name>.jinja}); "default" is the one used. */
    public static final String CHAT_TEMPLATE_DIR = "chat_templates";

    private static boolean hasJinja(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.anyMatch(f -> f.getFileName().toString().endsWith(".jinja"));
        }
    }

    /** chat_template is a string, or a list of named templates of which "default" is the one. */
    private static String chatTemplateSource(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        for (JsonNode t : n) {
            if ("default".equals(t.path("name").asText())) {
                return t.path("template").asText();
            }
        }
        return null;
    }

    @Override
    public void close() {
        loaded.values().forEach(ModelTokenizer::close);
        loaded.clear();
    }
}
