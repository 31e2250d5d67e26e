package io.boundless.fuzz;

import io.boundless.engine.model.DeltaVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A knowledge edit's delta version directory: manifest.json (base, base weights' sha256, files and their sha256). */
public final class DeltaManifestFuzz {
    private static final Path DIR = Findings.scratch("delta");

    static {
        try {
            Files.write(DIR.resolve(DeltaVersion.DELTA), new byte[] {1, 2, 3});
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static void fuzzerTestOneInput(byte[] data) throws IOException {
        Files.write(DIR.resolve(DeltaVersion.MANIFEST), data);
        DeltaVersion.Manifest m;
        try {
            m = DeltaVersion.read(DIR);
        } catch (IOException e) {
            Findings.allow(e, IOException.class);
            return;
        }
        String base = m.base();
        String weights = m.baseWeightsSha256();
        for (var e : m.files().entrySet()) {
            String name = e.getKey();
            String sha = e.getValue();
            if (name == null || sha == null) {
                throw new AssertionError("a file without a name or a sha256");
            }
        }
        if (base == null || (weights != null && weights.isEmpty() && base.isEmpty())) {
            throw new AssertionError("a manifest without a base");
        }
    }
}
