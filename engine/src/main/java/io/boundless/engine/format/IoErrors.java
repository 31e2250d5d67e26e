package io.boundless.engine.format;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;

/** What went wrong with a model file, in words an operator acts on (the JDK's messages are often the path alone). */
public final class IoErrors {
    private IoErrors() {}

    public static String why(Path file, Exception e) {
        if (e instanceof AccessDeniedException) {
            String who = System.getProperty("user.name");
            try {
                PosixFileAttributes a = Files.readAttributes(file, PosixFileAttributes.class);
                return "permission denied: the file is " + PosixFilePermissions.toString(a.permissions()) + ", owner " + a.owner().getName()
                        + ", group " + a.group().getName() + ", and this process runs as " + who;
            } catch (IOException | UnsupportedOperationException ignored) {
                return "permission denied (this process runs as " + who + ")";
            }
        }
        if (e instanceof NoSuchFileException) {
            return "it does not exist";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
