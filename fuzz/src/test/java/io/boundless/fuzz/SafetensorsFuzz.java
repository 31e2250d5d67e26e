package io.boundless.fuzz;

import io.boundless.engine.format.ModelFormatException;
import io.boundless.engine.format.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A safetensors file: its header (JSON of names, dtypes, shapes, offsets) and the tensors it describes. */
public final class SafetensorsFuzz {
    private static final Path FILE = Findings.scratch("safetensors").resolve("model.safetensors");

    public static void fuzzerTestOneInput(byte[] data) throws IOException {
        Files.write(FILE, data);
        try (SafeTensors st = SafeTensors.open(FILE)) {
            st.tensors().forEach((name, t) -> {
                if (name == null || t == null) {
                    throw new AssertionError("a tensor without a name");
                }
            });
            st.metadata().size();
        } catch (ModelFormatException e) {
            Findings.allow(e, ModelFormatException.class);
        }
    }
}
