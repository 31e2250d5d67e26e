package io.boundless.cli;

import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.model.LoadedModel;
import io.boundless.engine.model.ModelConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * A model given to {@code boundless up --model}, checked before anything starts, so that what cannot
 * be served is one line naming what is missing or unsupported, not a service that dies later: the
 * path exists; it is a Hugging Face directory (config.json, safetensors, tokenizer.json) or a GGUF
 * file with its own tokenizer (tokenizer.ggml.*, converted to tokenizer.json) or the tokenizer.json of its model
 * beside it, which wins; the engine serves its architecture and finds
 * every weight it needs ({@link LoadedModel#inspect}, the replicas' own reader). Whether it can
 * chat is the tokenizer service's to say (it owns the rule for where a template lives), once it runs.
 *
 * @param path          the model as the inference replicas open it: the directory, or the .gguf file
 * @param name          the served name: the directory's (a store's {@code <model>/<version>} gives {@code <model>}) or the file's without .gguf
 * @param tokenizerDir  where tokenizer.json and tokenizer_config.json are
 * @param chatTemplate  the --chat-template file, or null
 * @param ggufTokenizer the GGUF file's own tokenizer, converted, when no tokenizer.json is beside it; else null
 */
public record ModelSource(Path path, String name, Path tokenizerDir, ModelConfig config, Path chatTemplate,
        io.boundless.engine.format.GgufTokenizer.Files ggufTokenizer) {

    private static final int GGUF_MAGIC = 0x46554747;

    /** A model that cannot be served as given: the message is the one line to print. */
    public static final class Refused extends RuntimeException {
        Refused(String message) {
            super(message);
        }
    }

    /** Checks model (and the optional chat template file) and describes it; a problem is {@link Refused}. */
    public static ModelSource check(Path model, Path chatTemplate) {
        Path path = model.toAbsolutePath().normalize();
        if (!Files.exists(path)) {
            throw new Refused(path + " does not exist (--model takes a Hugging Face model directory or a .gguf file)");
        }
        if (!Files.isReadable(path)) {
            throw new Refused(path + " cannot be read (permissions)");
        }
        Path tokenizerDir;
        ModelConfig config;
        io.boundless.engine.format.GgufTokenizer.Files embedded = null;
        if (Files.isDirectory(path)) {
            if (!Files.exists(path.resolve("config.json"))) {
                List<Path> ggufs = list(path).filter(f -> f.getFileName().toString().endsWith(".gguf")).sorted().toList();
                if (!ggufs.isEmpty()) {
                    throw new Refused(path + " has no config.json, so it is not a Hugging Face model directory; it holds "
                            + ggufs.getFirst().getFileName() + ": give that file, --model " + ggufs.getFirst());
                }
            }
            config = inspect(path);
            tokenizerDir = path;
            requireTokenizer(path, path + " has no tokenizer.json");
        } else {
            if (!isGguf(path)) {
                throw new Refused(path + " is neither a Hugging Face model directory nor a GGUF file");
            }
            config = inspect(path);
            tokenizerDir = path.getParent();
            if (!Files.isRegularFile(tokenizerDir.resolve("tokenizer.json"))) {
                try (io.boundless.engine.format.Gguf g = io.boundless.engine.format.Gguf.open(path)) {
                    embedded = io.boundless.engine.format.GgufTokenizer.convert(g.metadata());
                } catch (ModelFormatException e) {
                    throw new Refused(path.getFileName() + ": " + e.getMessage() + "; or put the model's tokenizer.json (and tokenizer_config.json,"
                            + " which holds its chat template) beside it in " + tokenizerDir);
                }
            }
        }
        Path template = null;
        if (chatTemplate != null) {
            template = chatTemplate.toAbsolutePath().normalize();
            checkTemplate(template);
        }
        return new ModelSource(path, nameOf(path), tokenizerDir, config, template, embedded);
    }

    /** The served name of a model at path: {@code <model>} for a store's {@code <model>/<version>}, else the file name without .gguf. */
    static String nameOf(Path path) {
        String last = path.getFileName().toString();
        if (last.matches("\\d+") && path.getParent() != null && path.getParent().getFileName() != null) {
            return path.getParent().getFileName().toString();
        }
        return last.replaceFirst("\\.gguf$", "");
    }

    private static ModelConfig inspect(Path path) {
        try {
            return LoadedModel.inspect(path);
        } catch (ModelFormatException e) {
            throw new Refused(e.getMessage());
        }
    }

    private static void requireTokenizer(Path dir, String missing) {
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            return;
        }
        String why = missing + " (the tokenizer service reads Hugging Face tokenizer.json";
        if (Files.isRegularFile(dir.resolve("tokenizer.model"))) {
            why += "; a SentencePiece tokenizer.model alone is not read: AutoTokenizer.from_pretrained(dir).save_pretrained(dir) in"
                    + " transformers writes tokenizer.json";
        }
        throw new Refused(why + ")");
    }

    private static void checkTemplate(Path template) {
        if (!Files.isRegularFile(template)) {
            throw new Refused("--chat-template " + template + (Files.exists(template) ? " is not a file" : " does not exist"));
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(Files.readAllBytes(template))).toString();
        } catch (CharacterCodingException e) {
            throw new Refused("--chat-template " + template + " is not UTF-8 text");
        } catch (IOException e) {
            throw new Refused("--chat-template " + template + " cannot be read: " + e.getMessage());
        }
        if (text.isBlank()) {
            throw new Refused("--chat-template " + template + " is empty");
        }
    }

    private static boolean isGguf(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(4);
            return head.length == 4 && ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt() == GGUF_MAGIC;
        } catch (IOException e) {
            throw new Refused(file + " cannot be read: " + e.getMessage());
        }
    }

    private static Stream<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList().stream();
        } catch (IOException e) {
            throw new Refused(dir + " cannot be listed: " + e.getMessage());
        }
    }
}
