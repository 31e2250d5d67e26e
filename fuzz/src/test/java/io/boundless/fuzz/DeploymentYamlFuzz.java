package io.boundless.fuzz;

import io.boundless.router.rollout.ModelDeployments;
import java.nio.charset.StandardCharsets;

/** A ModelDeployment manifest (boundless.io/v1alpha1 YAML), as boundless up --deployment and the admin API take it. */
public final class DeploymentYamlFuzz {
    public static void fuzzerTestOneInput(byte[] data) {
        try {
            var d = ModelDeployments.parse(new String(data, StandardCharsets.UTF_8), "the manifest");
            if (d == null) {
                throw new AssertionError("parse gave null");
            }
        } catch (ModelDeployments.InvalidDeploymentException e) {
            Findings.allow(e, ModelDeployments.InvalidDeploymentException.class);
        }
    }
}
