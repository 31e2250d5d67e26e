package io.boundless.engine.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** A file mapped read-only into memory; closing it unmaps it (views taken from it become invalid). */
final class MappedFile implements AutoCloseable {
    final Path path;
    final MemorySegment segment;
    private final Arena arena;

    private MappedFile(Path path, MemorySegment segment, Arena arena) {
        this.path = path;
        this.segment = segment;
        this.arena = arena;
    }

    static MappedFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.size() == 0 ? MemorySegment.NULL.reinterpret(0) : ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return new MappedFile(path, seg, arena);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw new ModelFormatException("cannot map " + path + ": " + (e instanceof IOException io ? IoErrors.why(path, io) : e.getMessage()), e);
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
