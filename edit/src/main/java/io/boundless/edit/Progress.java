package io.boundless.edit;

/** Where long work reports: a stage, how far it is (done of total, total 0 when unknown) and a line for people. */
@FunctionalInterface
public interface Progress {
    void report(String stage, long done, long total, String message);

    Progress NONE = (stage, done, total, message) -> {};
}
