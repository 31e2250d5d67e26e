package io.boundless.router.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.boundless.router.endpoints.ReplicaPool;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Helm chart through helm-java (Helm itself, bundled): lint, templates over several value sets parsed into
 * Fabric8's types and asserted, the schema's refusals, the CRD against the build's, and the rendered install created in
 * the CRUD mock and reconciled by the operator.
 */
@EnableKubernetesMockClient(crud = true)
class HelmChartTest {
    static KubernetesClient client;
    static KubernetesMockServer server;
    static final Path ROOT = Path.of("../..").toAbsolutePath().normalize();
    static final Path CHART = ROOT.resolve("helm/boundless");
    static final Path EXAMPLES = ROOT.resolve("helm/examples");

    static String render(Path values) {
        return render(values, Map.of());
    }

    static String render(Path values, Map<String, Object> set) {
        var t = new Helm(CHART).template().withName("boundless").withNamespace("boundless").withKubeVersion("1.31.0");
        if (values != null) {
            t = t.withValuesFile(values);
        }
        for (var e : set.entrySet()) {
            t = t.set(e.getKey(), e.getValue());
        }
        return t.call();
    }

    /** The kinds the chart renders, by name (explicit: Fabric8's lookup by service loader depends on the thread's class loader). */
    static final Map<String, Class<? extends HasMetadata>> KINDS = Map.ofEntries(
            Map.entry("Deployment", Deployment.class), Map.entry("Service", io.fabric8.kubernetes.api.model.Service.class),
            Map.entry("ConfigMap", ConfigMap.class), Map.entry("ServiceAccount", io.fabric8.kubernetes.api.model.ServiceAccount.class),
            Map.entry("Role", Role.class), Map.entry("RoleBinding", io.fabric8.kubernetes.api.model.rbac.RoleBinding.class),
            Map.entry("PodDisruptionBudget", PodDisruptionBudget.class), Map.entry("NetworkPolicy", NetworkPolicy.class),
            Map.entry("PersistentVolumeClaim", io.fabric8.kubernetes.api.model.PersistentVolumeClaim.class),
            Map.entry("CustomResourceDefinition", io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition.class));

    static List<HasMetadata> objects(String yaml) {
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.strip().startsWith("#"))) {
                continue;
            }
            var generic = client.getKubernetesSerialization().unmarshal(doc, GenericKubernetesResource.class);
            Class<? extends HasMetadata> type = KINDS.get(generic.getKind());
            out.add(type == null ? generic : client.getKubernetesSerialization().unmarshal(doc, type));
        }
        return out;
    }

    static <T> List<T> of(List<HasMetadata> objects, Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    @Test
    void lintsAndRendersEveryExampleWithSecureProbedContainers() throws IOException {
        var lint = new Helm(CHART).lint().strict().call();
        assertThat(lint.isFailed()).as(String.join("\n", lint.getMessages())).isFalse();
        for (String example : List.of("minimal.yaml", "gh200-mi300.yaml", "h100.yaml", "all-options.yaml")) {
            List<HasMetadata> objects = objects(render(EXAMPLES.resolve(example)));
            List<Deployment> deployments = of(objects, Deployment.class);
            assertThat(deployments).as(example).isNotEmpty();
            for (Deployment d : deployments) {
                PodSpec pod = d.getSpec().getTemplate().getSpec();
                assertThat(pod.getSecurityContext().getRunAsNonRoot()).as(d.getMetadata().getName()).isTrue();
                assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
                for (Container c : pod.getContainers()) {
                    var sc = c.getSecurityContext();
                    assertThat(sc.getReadOnlyRootFilesystem()).as(c.getName()).isTrue();
                    assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
                    assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
                    assertThat(c.getReadinessProbe()).as(c.getName() + " readiness").isNotNull();
                    assertThat(c.getLivenessProbe()).as(c.getName() + " liveness").isNotNull();
                    assertThat(c.getStartupProbe()).as(c.getName() + " startup").isNotNull();
                    assertThat(c.getResources().getLimits()).as(c.getName() + " limits").isNotEmpty();
                }
            }
            assertThat(of(objects, NetworkPolicy.class)).as(example + " NetworkPolicies").hasSize(example.equals("all-options.yaml") ? 4 : 3);
            assertThat(of(objects, PodDisruptionBudget.class)).as(example + " PDBs").isNotEmpty();
            Role role = of(objects, Role.class).getFirst();
            assertThat(rules(role)).as("the Role's rules are the ones docs/OPERATIONS.md lists").isEqualTo(documentedRules(example.equals("all-options.yaml")));
        }
        List<HasMetadata> all = objects(render(EXAMPLES.resolve("all-options.yaml")));
        assertThat(all).extracting(HasMetadata::getKind).contains("ServiceMonitor", "PrometheusRule", "ConfigMap", "ModelDeployment");
        assertThat(of(all, Deployment.class)).extracting(d -> d.getMetadata().getName())
                .containsExactlyInAnyOrder("boundless-router-chat", "boundless-router-embed", "boundless-tokenizer", "boundless-knowledge-edit");
        Deployment edit = of(all, Deployment.class).stream().filter(d -> d.getMetadata().getName().equals("boundless-knowledge-edit")).findFirst().orElseThrow();
        var env = edit.getSpec().getTemplate().getSpec().getContainers().getFirst().getEnv();
        assertThat(env).extracting(e -> e.getName() + "=" + e.getValue()).contains("BOUNDLESS_KNOWLEDGE_EDIT_ROUTER=boundless-router-chat:9100",
                "BOUNDLESS_KNOWLEDGE_EDIT_TOKENIZER=boundless-tokenizer:9101", "BOUNDLESS_KNOWLEDGE_EDIT_API_KEYS=/etc/boundless/keys/keys");
        assertThat(edit.getSpec().getTemplate().getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getPersistentVolumeClaim() == null ? null
                : v.getPersistentVolumeClaim().getClaimName()).isEqualTo("models-nfs-rw"));
        assertThat(of(all, Deployment.class).stream().filter(d -> d.getMetadata().getName().equals("boundless-router-chat")).findFirst().orElseThrow()
                .getSpec().getReplicas()).isEqualTo(3);
        // the reasoning limits reach the router's configuration, and each exemplar set is a file the router loads
        var config = of(all, io.fabric8.kubernetes.api.model.ConfigMap.class).stream().filter(c -> c.getMetadata().getName().equals("boundless-router-chat"))
                .findFirst().orElseThrow();
        assertThat(config.getData().get("application.properties")).contains("boundless.router.reasoning.max-samples=40",
                "boundless.router.reasoning.key-tokens-per-minute=200000", "boundless.router.reasoning.exemplars=/deployments/config/exemplars",
                "boundless.router.tool-call-parser=llama3_json", "boundless.router.auth.requests-per-second=5", "boundless.router.auth.burst=20",
                "boundless.router.auth.tokens-per-minute=200000", "boundless.router.auth.max-streams=16");
        java.nio.file.Path sets = java.nio.file.Files.createTempDirectory("exemplars");
        java.nio.file.Files.writeString(sets.resolve("yes-no.json"), config.getData().get("exemplar-yes-no.json"));
        var loaded = io.boundless.router.reasoning.ExemplarSets.load(sets);
        assertThat(loaded.names()).containsExactly("yes-no");
        assertThat(loaded.get("yes-no").parser().getKind()).isEqualTo(io.boundless.proto.router.v1.AnswerParserKind.ANSWER_PARSER_KIND_YES_NO);
        var volumes = of(all, Deployment.class).stream().filter(d -> d.getMetadata().getName().equals("boundless-router-chat")).findFirst().orElseThrow()
                .getSpec().getTemplate().getSpec().getVolumes();
        assertThat(volumes.stream().filter(v -> v.getName().equals("config")).findFirst().orElseThrow().getConfigMap().getItems())
                .extracting(i -> i.getPath()).containsExactly("application.properties", "exemplars/yes-no.json");
    }

    /** The cert-manager objects of a render, by kind. */
    static List<GenericKubernetesResource> certManager(List<HasMetadata> objects, String kind) {
        return objects.stream().filter(o -> o instanceof GenericKubernetesResource g && g.getApiVersion().equals("cert-manager.io/v1")
                && g.getKind().equals(kind)).map(GenericKubernetesResource.class::cast).toList();
    }

    @SuppressWarnings("unchecked")
    static <T> T at(GenericKubernetesResource r, String... path) {
        Object o = r.getAdditionalProperties();
        for (String p : path) {
            o = ((Map<String, Object>) o).get(p);
        }
        return (T) o;
    }

    static Map<String, String> env(Container c) {
        Map<String, String> m = new LinkedHashMap<>();
        c.getEnv().forEach(e -> m.put(e.getName(), e.getValue()));
        return m;
    }

    @Test
    void everyServiceIsOnMutualTlsFromCertManagerUnlessPlaintextIsAsked() throws IOException {
        List<HasMetadata> all = objects(render(EXAMPLES.resolve("all-options.yaml")));
        // the chart's own CA: a self-signed root, a CA certificate from it, a CA Issuer signing the services' certificates
        assertThat(certManager(all, "Issuer")).extracting(i -> i.getMetadata().getName()).containsExactlyInAnyOrder("boundless-selfsigned", "boundless-ca");
        var certificates = certManager(all, "Certificate");
        var ca = certificates.stream().filter(c -> Boolean.TRUE.equals(at(c, "spec", "isCA"))).toList();
        assertThat(ca).hasSize(1);
        assertThat((String) at(ca.getFirst(), "spec", "issuerRef", "name")).isEqualTo("boundless-selfsigned");
        assertThat((String) at(ca.getFirst(), "spec", "secretName")).isEqualTo("boundless-ca");
        Map<String, GenericKubernetesResource> bySecret = new LinkedHashMap<>();
        for (var c : certificates) {
            if (!Boolean.TRUE.equals(at(c, "spec", "isCA"))) {
                bySecret.put(at(c, "spec", "secretName"), c);
                assertThat((String) at(c, "spec", "issuerRef", "name")).isEqualTo("boundless-ca");
                // the services read PKCS#8 keys only; a key is made anew at each renewal
                assertThat((String) at(c, "spec", "privateKey", "encoding")).isEqualTo("PKCS8");
                assertThat((String) at(c, "spec", "privateKey", "rotationPolicy")).isEqualTo("Always");
                assertThat((List<String>) at(c, "spec", "usages")).contains("server auth", "client auth");
            }
        }
        assertThat(bySecret).containsOnlyKeys("boundless-router-tls", "boundless-tokenizer-tls", "boundless-inference-tls", "boundless-knowledge-edit-tls");
        for (Deployment d : of(all, Deployment.class)) {
            PodSpec pod = d.getSpec().getTemplate().getSpec();
            Container c = pod.getContainers().getFirst();
            String where = d.getMetadata().getName();
            assertThat(env(c)).as(where).containsEntry("BOUNDLESS_TLS_CERT", "/etc/boundless/tls/tls.crt").containsEntry("BOUNDLESS_TLS_KEY",
                    "/etc/boundless/tls/tls.key").containsEntry("BOUNDLESS_TLS_CA", "/etc/boundless/tls/ca.crt").doesNotContainKey("BOUNDLESS_TLS_PLAINTEXT");
            // mounted whole (not by subPath), so that the kubelet swaps renewed files in
            assertThat(c.getVolumeMounts()).as(where).anySatisfy(m -> {
                assertThat(m.getName()).isEqualTo("tls");
                assertThat(m.getMountPath()).isEqualTo("/etc/boundless/tls");
                assertThat(m.getSubPath()).isNull();
            });
            String secret = pod.getVolumes().stream().filter(v -> v.getName().equals("tls")).findFirst().orElseThrow().getSecret().getSecretName();
            assertThat(bySecret).as(where).containsKey(secret);
        }
        // traces: every service is told where to, and the router passes the same on to the replicas it creates
        for (Deployment d : of(all, Deployment.class)) {
            assertThat(env(d.getSpec().getTemplate().getSpec().getContainers().getFirst())).as(d.getMetadata().getName())
                    .containsEntry("QUARKUS_OTEL_SDK_DISABLED", "false").containsEntry("QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                            "http://otel-collector.monitoring:4317");
        }
        Deployment routerChat = of(all, Deployment.class).stream().filter(d -> d.getMetadata().getName().equals("boundless-router-chat")).findFirst().orElseThrow();
        var podEnv = KubernetesSettings.inheritedEnv(env(routerChat.getSpec().getTemplate().getSpec().getContainers().getFirst()));
        assertThat(podEnv).containsOnlyKeys("QUARKUS_OTEL_SDK_DISABLED", "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
        var md = KubernetesOperatorTest.resource(List.of(new io.boundless.router.rollout.ModelDeployment.Version("v1", "llama/1")), 1, List.of());
        md.getMetadata().setUid("u");
        var pod = Workloads.deployment(md, md.getSpec().versions().getFirst(), md.getSpec().pools().getFirst(), 1.0, new KubernetesSettings("boundless",
                "chat", Map.of("nvidia", "img", "amd", "img"), "claim", 9102, 8102, Duration.ofSeconds(60), false, null, Map.of(), "boundless-inference-tls", podEnv), 1);
        assertThat(env(pod.getSpec().getTemplate().getSpec().getContainers().getFirst())).containsAllEntriesOf(podEnv);
        assertThat(of(objects(render(EXAMPLES.resolve("minimal.yaml"))), Deployment.class)).allSatisfy(d ->
                assertThat(env(d.getSpec().getTemplate().getSpec().getContainers().getFirst())).doesNotContainKey("QUARKUS_OTEL_SDK_DISABLED"));

        // the routers hand the inference certificate's Secret to the replicas they create
        for (ConfigMap cm : of(all, ConfigMap.class)) {
            if (cm.getData().containsKey("application.properties")) {
                assertThat(cm.getData().get("application.properties")).contains("boundless.router.kubernetes.tls-secret=boundless-inference-tls");
            }
        }

        // an issuer of the cluster's own: no CA of the chart's
        List<HasMetadata> issued = objects(render(EXAMPLES.resolve("minimal.yaml"), Map.of("tls.issuerRef.name", "corp-ca", "tls.issuerRef.kind", "ClusterIssuer")));
        assertThat(certManager(issued, "Issuer")).isEmpty();
        assertThat(certManager(issued, "Certificate")).hasSize(3).allSatisfy(c -> {
            assertThat((String) at(c, "spec", "issuerRef", "name")).isEqualTo("corp-ca");
            assertThat((String) at(c, "spec", "issuerRef", "kind")).isEqualTo("ClusterIssuer");
        });

        // plaintext only where asked, and then said explicitly to every service (their default is TLS)
        List<HasMetadata> plain = objects(render(EXAMPLES.resolve("all-options.yaml"), Map.of("tls.enabled", "false")));
        assertThat(plain).noneMatch(o -> o.getApiVersion().startsWith("cert-manager.io/"));
        for (Deployment d : of(plain, Deployment.class)) {
            Container c = d.getSpec().getTemplate().getSpec().getContainers().getFirst();
            assertThat(env(c)).as(d.getMetadata().getName()).containsEntry("BOUNDLESS_TLS_PLAINTEXT", "true").doesNotContainKey("BOUNDLESS_TLS_CERT");
            assertThat(d.getSpec().getTemplate().getSpec().getVolumes()).noneMatch(v -> v.getName().equals("tls"));
        }
        assertThat(of(plain, ConfigMap.class)).allSatisfy(cm -> assertThat(String.valueOf(cm.getData().get("application.properties")))
                .doesNotContain("tls-secret"));
        assertThatThrownBy(() -> render(EXAMPLES.resolve("minimal.yaml"), Map.of("tls.issuerRef.kind", "Vault")))
                .hasMessageContaining("values don't meet the specifications of the schema");
    }

    /** group/resource -> verbs, from the Role. */
    static Map<String, TreeSet<String>> rules(Role role) {
        Map<String, TreeSet<String>> m = new TreeMap<>();
        for (var r : role.getRules()) {
            for (String g : r.getApiGroups()) {
                for (String res : r.getResources()) {
                    m.computeIfAbsent((g.isEmpty() ? "core" : g) + "/" + res, k -> new TreeSet<>()).addAll(r.getVerbs());
                }
            }
        }
        return m;
    }

    /** The RBAC table of docs/OPERATIONS.md: | group | resource | verbs | why |; rows marked (keda) only with KEDA. */
    static Map<String, TreeSet<String>> documentedRules(boolean keda) throws IOException {
        String ops = Files.readString(ROOT.resolve("docs/OPERATIONS.md"));
        Matcher m = Pattern.compile("(?m)^\\| `([^`]*)` \\| `([^`]+)` \\| ([a-z, ]+) \\| (.*)\\|$").matcher(ops);
        Map<String, TreeSet<String>> out = new TreeMap<>();
        while (m.find()) {
            if (m.group(4).contains("(keda)") && !keda) {
                continue;
            }
            out.computeIfAbsent((m.group(1).isEmpty() ? "core" : m.group(1)) + "/" + m.group(2), k -> new TreeSet<>())
                    .addAll(List.of(m.group(3).split(",\\s*")));
        }
        return out;
    }

    @Test
    void theSchemaRejectsBadValuesWithTheirPath() throws IOException {
        Path dir = Files.createTempDirectory("values");
        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("router:\n  replicas: 0\n", "replicas");
        bad.put("routr: {}\n", "routr");
        bad.put("image: {registry: r, pullPolicy: Sometimes}\n", "pullPolicy");
        bad.put("models:\n  - name: Chat\n    spec: {model: m, versions: [{name: v1, source: m/1}], pools: [{name: cpu}]}\n", "name");
        bad.put("models:\n  - name: chat\n    spec: {model: m, versions: [{name: v1, source: m/1}], pools: [{name: tpu, accelerator: tpu}]}\n", "accelerator");
        bad.put("models:\n  - name: chat\n    spec: {model: m, versions: [], pools: [{name: cpu}]}\n", "versions");
        for (var e : bad.entrySet()) {
            Path f = dir.resolve("v" + e.getKey().hashCode() + ".yaml");
            Files.writeString(f, e.getKey());
            assertThatThrownBy(() -> render(f)).as(e.getKey()).hasMessageContaining("values don't meet the specifications of the schema")
                    .hasMessageContaining(e.getValue());
        }
    }

    @Test
    void theCommittedCrdIsTheBuildsAndValidatesModelDeployments() throws IOException {
        Path built = Path.of("target/classes/META-INF/fabric8/modeldeployments.boundless.io-v1.yml");
        assertThat(Files.readString(CHART.resolve("crds/modeldeployments.boundless.io-v1.yml")))
                .as("helm/boundless/crds is the build's CRD: copy services/router/" + built + " there").isEqualTo(Files.readString(built));
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        JsonNode schema = yaml.readTree(built.toFile()).at("/spec/versions/0/schema/openAPIV3Schema");
        var validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_4).getSchema(schema);
        List<JsonNode> samples = new ArrayList<>();
        samples.add(yaml.readTree(ROOT.resolve("examples/model-deployment.yaml").toFile()));
        for (String example : List.of("minimal.yaml", "gh200-mi300.yaml", "h100.yaml", "all-options.yaml")) {
            for (HasMetadata o : objects(render(EXAMPLES.resolve(example)))) {
                if (o.getKind().equals("ModelDeployment")) {
                    samples.add(yaml.valueToTree(o));
                }
            }
        }
        assertThat(samples).hasSizeGreaterThanOrEqualTo(6);
        for (JsonNode s : samples) {
            ((com.fasterxml.jackson.databind.node.ObjectNode) s).remove(List.of("apiVersion", "kind", "metadata"));
            assertThat(validator.validate(s)).as(s.toString()).isEmpty();
        }
        JsonNode bad = yaml.readTree("""
                spec:
                  model: m
                  versions: [{name: v1, source: m/1}]
                  pools: [{name: gpu, accelerator: tpu, minReplicas: -1}]
                  rollout: {steps: [{setWeight: 150}, {pause: {duration: soon}}]}
                """);
        assertThat(validator.validate(bad).stream().map(Object::toString).toList())
                .anySatisfy(m -> assertThat(m).contains("accelerator"))
                .anySatisfy(m -> assertThat(m).contains("minReplicas"))
                .anySatisfy(m -> assertThat(m).contains("setWeight"))
                .anySatisfy(m -> assertThat(m).contains("duration"));
        assertThat(validator.validate(yaml.readTree("spec: {model: m, pools: [{name: cpu}]}")).toString()).contains("versions");
    }

    @Test
    void theRenderedInstallIsReconciledByTheOperator() throws IOException {
        KubernetesOperatorTest.allowLeaderElection(server);
        var crd = client.getKubernetesSerialization().unmarshal(Files.readString(CHART.resolve("crds/modeldeployments.boundless.io-v1.yml")),
                io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition.class);
        client.apiextensions().v1().customResourceDefinitions().resource(crd).create();
        List<HasMetadata> objects = objects(render(EXAMPLES.resolve("gh200-mi300.yaml")));
        for (HasMetadata o : objects) {
            if (o.getApiVersion().startsWith("cert-manager.io/")) {
                continue;  // cert-manager's kinds: asserted as rendered above, no CRDs for them in the mock
            }
            o.getMetadata().setNamespace("boundless");
            if (o instanceof GenericKubernetesResource g && g.getKind().equals("ModelDeployment")) {
                client.resources(ModelDeploymentResource.class).inNamespace("boundless")
                        .resource(client.getKubernetesSerialization().convertValue(g, ModelDeploymentResource.class)).create();
            } else {
                client.resource(o).inNamespace("boundless").create();
            }
        }
        // the router's configuration, as the chart renders it
        ConfigMap cm = client.configMaps().inNamespace("boundless").withName("boundless-router-chat").get();
        Properties p = new Properties();
        p.load(new StringReader(cm.getData().get("application.properties")));
        Map<String, String> images = Map.of("cpu", p.getProperty("boundless.router.kubernetes.images.cpu"),
                "nvidia", p.getProperty("boundless.router.kubernetes.images.nvidia"), "amd", p.getProperty("boundless.router.kubernetes.images.amd"));
        var settings = new KubernetesSettings("boundless", p.getProperty("boundless.router.kubernetes.deployment"), images,
                p.getProperty("boundless.router.kubernetes.model-store-claim"), 9102, 8102, Duration.ofSeconds(120), false, null,
                Map.of("app.kubernetes.io/part-of", "boundless", "app.kubernetes.io/instance", "boundless"),
                p.getProperty("boundless.router.kubernetes.tls-secret"));
        ReplicaPool pool = new ReplicaPool(List.of(), Duration.ofMillis(100), Duration.ofMillis(300), Duration.ofSeconds(1), 2);
        var op = new ModelDeploymentOperator(client, settings, pool, new KubernetesOperatorTest.Routes(), p.getProperty("boundless.router.model"),
                new ModelDeploymentOperator.LeaseTiming(p.getProperty("boundless.router.kubernetes.lease"), "router-0", Duration.ofSeconds(2),
                        Duration.ofMillis(1500), Duration.ofMillis(250)), Duration.ofMillis(200), System::currentTimeMillis);
        try {
            op.start();
            await().atMost(Duration.ofSeconds(20)).until(() -> client.apps().deployments().inNamespace("boundless").withName("chat-v1-gh200").get() != null
                    && client.apps().deployments().inNamespace("boundless").withName("chat-v1-mi300").get() != null);
            Deployment gh = client.apps().deployments().inNamespace("boundless").withName("chat-v1-gh200").get();
            var c = gh.getSpec().getTemplate().getSpec().getContainers().getFirst();
            assertThat(c.getImage()).isEqualTo("ghcr.io/boundless/boundless-inference-cuda:0.1.0");
            assertThat(c.getResources().getLimits()).containsKeys("nvidia.com/gpu", "cpu", "memory");
            assertThat(gh.getSpec().getTemplate().getSpec().getNodeSelector()).containsEntry("kubernetes.io/arch", "arm64");
            assertThat(gh.getSpec().getTemplate().getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getPersistentVolumeClaim().getClaimName())
                    .isEqualTo("boundless-models"));
            // the replicas serve mutual TLS with the chart's inference certificate
            String tlsSecret = certManager(objects, "Certificate").stream().map(x -> (String) at(x, "spec", "secretName"))
                    .filter(n -> n.endsWith("-inference-tls")).findFirst().orElseThrow();
            assertThat(gh.getSpec().getTemplate().getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getSecret() == null ? null
                    : v.getSecret().getSecretName()).isEqualTo(tlsSecret));
            assertThat(env(c)).containsEntry("BOUNDLESS_TLS_CA", KubernetesSettings.TLS_MOUNT + "/ca.crt").doesNotContainKey("BOUNDLESS_TLS_PLAINTEXT");
            // the chart's NetworkPolicy lets the router reach these Pods: they carry the labels it selects
            NetworkPolicy np = client.network().v1().networkPolicies().inNamespace("boundless").withName("boundless-inference").get();
            assertThat(gh.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(np.getSpec().getPodSelector().getMatchLabels());
            var mi = client.apps().deployments().inNamespace("boundless").withName("chat-v1-mi300").get();
            assertThat(mi.getSpec().getTemplate().getSpec().getContainers().getFirst().getResources().getLimits()).containsKey("amd.com/gpu");
        } finally {
            op.close();
            pool.close();
        }
    }
}
