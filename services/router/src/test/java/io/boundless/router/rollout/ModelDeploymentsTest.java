package io.boundless.router.rollout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.boundless.router.autoscale.ScalingSpec;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelDeploymentsTest {
    static final String FULL = """
            apiVersion: boundless.io/v1alpha1
            kind: ModelDeployment
            metadata:
              name: chat
            spec:
              model: llama-3.2-1b
              versions:
                - name: v1
                  source: llama-3.2-1b/2024-09
                - name: v2
                  source: llama-3.2-1b/2024-12
              pools:
                - name: gh200
                  accelerator: nvidia
                  capacity: 2.0
                  minReplicas: 1
                  maxReplicas: 8
                  resources: {nvidia.com/gpu: "1"}
                  nodeSelector: {boundless.io/pool: gh200}
                  tolerations:
                    - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
                - name: cpu
                  accelerator: cpu
              autoscaling:
                targets: {utilization: 0.7, queueDepthPerReplica: 5}
                tolerance: 0.05
                behavior:
                  scaleUp:
                    stabilizationWindowSeconds: 30
                    selectPolicy: Min
                    policies:
                      - {type: Pods, value: 2, periodSeconds: 60}
                      - {type: Percent, value: 50, periodSeconds: 60}
                  scaleDown:
                    stabilizationWindowSeconds: 120
              rollout:
                steps:
                  - setWeight: 10
                  - pause: {duration: 2m}
                  - analysis: {window: 90s}
                  - setWeight: 50
                  - pause: {}
                analysis: {maxTtftRatio: 1.5, minRequests: 100}
                progressDeadlineSeconds: 300
                stickiness: {header: x-session-id, user: true}
            """;

    @Test
    void readsAWholeDeploymentAndTurnsItIntoTheControllersSpecs() {
        ModelDeployment d = ModelDeployments.parse(FULL, "chat.yaml");
        assertThat(d.spec().versions()).extracting(ModelDeployment.Version::source).containsExactly("llama-3.2-1b/2024-09", "llama-3.2-1b/2024-12");
        assertThat(ModelDeployments.capacity(d, "gh200")).isEqualTo(2.0);
        assertThat(ModelDeployments.capacity(d, "cpu")).isEqualTo(1.0);
        assertThat(d.spec().pools().get(0).tolerations().get(0).getOperator()).isEqualTo("Exists");

        ScalingSpec gh = ModelDeployments.scalingSpec(d, "gh200");
        assertThat(gh.minReplicas()).isEqualTo(1);
        assertThat(gh.maxReplicas()).isEqualTo(8);
        assertThat(gh.targets()).isEqualTo(new ScalingSpec.Targets(0.7, 5.0, null));
        assertThat(gh.tolerance()).isEqualTo(0.05);
        assertThat(gh.scaleUp()).isEqualTo(new ScalingSpec.Behavior(30, List.of(new ScalingSpec.Policy(ScalingSpec.Policy.Type.PODS, 2, 60),
                new ScalingSpec.Policy(ScalingSpec.Policy.Type.PERCENT, 50, 60)), ScalingSpec.Select.MIN));
        assertThat(gh.scaleDown().stabilizationWindowSeconds()).isEqualTo(120);
        assertThat(gh.scaleDown().policies()).isEqualTo(ScalingSpec.Behavior.DEFAULT_DOWN.policies());
        ScalingSpec cpu = ModelDeployments.scalingSpec(d, "cpu");
        assertThat(cpu.minReplicas()).isEqualTo(1);
        assertThat(cpu.maxReplicas()).as("maxReplicas defaults to minReplicas").isEqualTo(1);

        assertThat(ModelDeployments.steps(d)).containsExactly(new RolloutController.SetWeight(10), new RolloutController.Pause(Duration.ofMinutes(2)),
                new RolloutController.Analysis(Duration.ofSeconds(90)), new RolloutController.SetWeight(50), new RolloutController.Pause(null));
        assertThat(ModelDeployments.progressDeadline(d)).isEqualTo(Duration.ofSeconds(300));
        assertThat(ModelDeployments.inconclusiveLimit(d)).isEqualTo(3);
        CanaryAnalysis.Spec a = ModelDeployments.analysis(d);
        assertThat(a.maxTtftRatio()).isEqualTo(1.5);
        assertThat(a.minRequests()).isEqualTo(100);
        assertThat(a.maxItlRatio()).isEqualTo(CanaryAnalysis.Spec.defaults().maxItlRatio());
        assertThat(d.spec().rollout().stickiness().header()).isEqualTo("x-session-id");
    }

    @Test
    void theSmallestDeploymentGetsTheDefaults() {
        ModelDeployment d = ModelDeployments.parse("""
                apiVersion: boundless.io/v1alpha1
                kind: ModelDeployment
                metadata: {name: default}
                spec:
                  model: default
                  versions: [{name: v1, source: default/1}]
                  pools: [{name: cpu}]
                """, "built-in");
        assertThat(ModelDeployments.scalingSpec(d, "cpu")).as("no autoscaling: the pool keeps minReplicas").isNull();
        assertThat(ModelDeployments.steps(d)).hasSize(5).element(1).isEqualTo(new RolloutController.Pause(Duration.ofSeconds(30)));
        assertThat(ModelDeployments.progressDeadline(d)).isEqualTo(Duration.ofSeconds(600));
        assertThat(ModelDeployments.analysis(d)).isEqualTo(CanaryAnalysis.Spec.defaults());
    }

    @Test
    void eachProblemIsOneMessageNamingTheField() {
        String base = FULL;
        String[][] cases = {
            {base.replace("    steps:", "    stpes:"), "spec.rollout.stpes", "Unrecognized field"},
            {base.replace("maxReplicas: 8", "maxReplicas: 0"), "spec.pools[0]: minReplicas 1 and maxReplicas 0"},
            {base.replace("name: v2", "name: v1"), "spec.versions[1].name v1 is used twice"},
            {base.replace("duration: 2m", "duration: two minutes"), "spec.rollout.steps[1]: a duration is a number and ms, s, m or h"},
            {base.replace("  - setWeight: 50", "  - {setWeight: 50, pause: {}}"), "spec.rollout.steps[3]: a step is exactly one of setWeight, pause or analysis"},
            {base.replace("setWeight: 10", "setWeight: 110"), "spec.rollout.steps[0]: setWeight is 0 to 100, not 110"},
            {base.replace("boundless.io/v1alpha1", "boundless.io/v1"), "apiVersion must be boundless.io/v1alpha1, not boundless.io/v1"},
            {base.replace("name: chat", "name: Chat_Bot"), "metadata.name must be a DNS label"},
            {base.replace("accelerator: cpu", "accelerator: tpu"), "spec.pools[1].accelerator is cpu, nvidia, amd, not tpu"},
            {base.replace("utilization: 0.7", "utilization: 70"), "spec.autoscaling: target utilization must be in (0, 1], not 70.0"},
            {base.replace("type: Pods", "type: Replicas"), "spec.autoscaling.behavior.scaleUp.policies[0].type is Pods, Percent, not Replicas"},
            {base.replace("source: llama-3.2-1b/2024-12", "source: \"\""), "spec.versions[1].source"},
            {base.replace("capacity: 2.0", "capacity: lots"), "spec.pools[0].capacity"},
            {base.replace("maxTtftRatio: 1.5", "maxTtftRatio: 0.5"), "spec.rollout.analysis: analysis thresholds"},
            {"", "the document is empty"},
            {"spec: [1]", "chat.yaml: spec: Cannot deserialize"},
            {"apiVersion: 'open", "not a YAML document"},
        };
        for (String[] c : cases) {
            assertThatThrownBy(() -> ModelDeployments.parse(c[0], "chat.yaml")).as(c[1]).isInstanceOf(ModelDeployments.InvalidDeploymentException.class)
                    .hasMessageStartingWith("chat.yaml: ").hasMessageContaining(c[1]).hasMessageContaining(c.length > 2 ? c[2] : "");
        }
    }
}
