"""Static data for the built-in sample tenant: CVEs, packages, images, teams and places.

Everything here is data; ``world.py`` turns it into an estate. The CVE catalogue and the
installed package versions are data files beside this module (``data/cves.txt``,
``data/package_versions.yaml``); the teams, images and places are small tables here. The CVE ids,
their affected packages, severities and publication dates are real and well known; the
installed and fixed package versions are realistic but illustrative (they follow each
distribution's versioning scheme, not necessarily its exact security advisory).

Platforms are operating systems (``debian-12``, ``alpine-3.18``...) or language
ecosystems (``go``, ``java``, ``python``, ``npm``, ``dotnet``...). An image has one OS
platform and any number of language platforms; it can carry the CVEs of those platforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "data"


def _load_package_versions() -> dict[str, dict[str, str]]:
    data = yaml.safe_load((DATA / "package_versions.yaml").read_text(encoding="utf-8"))
    return {str(platform): {str(k): str(v) for k, v in packages.items()} for platform, packages in data.items()}


ORG = "contoso"
EMAIL_DOMAIN = "contoso.com"

POLICY_DEFINITION_ID = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
POLICY_DISPLAY_NAME = ("Azure running container images should have vulnerabilities resolved "
                       "(powered by Microsoft Defender Vulnerability Management)")
POLICY_REFERENCE_ID = "kubernetesRunningImagesVulnerabilityMDVMAssessment"
POLICY_SET_ID = "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
POLICY_GROUPS = ("Azure_Security_Benchmark_v3.0_PV-6", "Azure_Security_Benchmark_v3.0_DS-6")
ASSESSMENT_KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
ASSIGNMENT_NAME = "SecurityCenterBuiltIn"
STANDARD = "Microsoft-cloud-security-benchmark"
CONTROLS = ("DS.6", "PV.6")

# Other policies of the same initiative that show up in policy states (the aggregator must ignore them).
# (definition id, reference id, group names, resource kind: "cluster" | "registry")
OTHER_POLICIES = (
    ("/providers/Microsoft.Authorization/policyDefinitions/a1840de2-8088-4ea8-b153-b4c723e9cb01",
     "azureKubernetesServiceClustersShouldHaveDefenderProfileEnabled", ("Azure_Security_Benchmark_v3.0_LT-1",),
     "cluster"),
    ("/providers/Microsoft.Authorization/policyDefinitions/0a15ec92-a229-4763-bb14-0ea34a568f8d",
     "azurePolicyAddOnForKubernetesServiceShouldBeInstalledAndEnabledOnClusters",
     ("Azure_Security_Benchmark_v3.0_PV-2",), "cluster"),
    ("/providers/Microsoft.Authorization/policyDefinitions/090c7b07-b4ed-4561-ad20-e9075f3ccaff",
     "azureContainerRegistryVulnerabilityAssessment", POLICY_GROUPS, "registry"),
)
DEFENDER_PROFILE_POLICY = 0
POLICY_ADDON_POLICY = 1
REGISTRY_POLICY = 2

# A second assignment on some clusters: the built-in initiative "Kubernetes cluster pod security
# baseline standards for Linux-based workloads" (Azure/azure-policy built-in-policies/
# policySetDefinitions/Kubernetes/Kubernetes_PSPBaselineStandard.json), assigned by the platform
# team. It does not carry the running-images definition, so an exemption of it never applies to
# our policy, even with empty policyDefinitionReferenceIds (= the whole initiative).
POD_SECURITY_SET_ID = "/providers/Microsoft.Authorization/policySetDefinitions/a8640138-9b0a-4a28-b8cb-1666c838647d"
POD_SECURITY_ASSIGNMENT_NAME = "aks-pod-security-baseline"
POD_SECURITY_POLICIES = (   # (definition id, reference id as the initiative names it)
    ("/providers/Microsoft.Authorization/policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4",
     "NoPrivilegedContainers"),
    ("/providers/Microsoft.Authorization/policyDefinitions/098fc59e-46c7-4d99-9b16-64990e543d75", "NoHostPathVolume"),
)

# --------------------------------------------------------------------------------------------
# Platforms: OS version strings as Defender reports them, and installed package versions.
# --------------------------------------------------------------------------------------------

OS_VERSIONS = {
    "debian-10": "debian_linux_10", "debian-11": "debian_linux_11", "debian-12": "debian_linux_12",
    "debian-13": "debian_linux_13", "ubuntu-22.04": "ubuntu_linux_22.04", "alpine-3.16": "alpine_linux_3.16",
    "alpine-3.18": "alpine_linux_3.18", "mariner-2.0": "cbl_mariner_2.0",
}
LANGUAGES = ("go", "go-runc", "java", "java-legacy", "python", "python-ml", "npm", "dotnet")
PACKAGE_VERSIONS: dict[str, dict[str, str]] = _load_package_versions()

# --------------------------------------------------------------------------------------------
# CVE catalogue (data/cves.txt): real CVEs and their affected packages per platform.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cve:
    id: str
    severity: str
    cvss: float
    published: str       # YYYY-MM-DD
    exploitable: bool
    title: str


@dataclass(frozen=True)
class Variant:
    """One vulnerable package of a CVE on one platform (a finding row is cluster x image x variant)."""

    cve: int             # index into CVES
    platform: str
    package: str
    version: str         # installed version
    fixed: str           # "" when no fix
    fix_status: str      # FixAvailable | NoFixAvailable | WontFix
    component: int       # variants of one CVE on one platform share a component (chosen together)


def _parse() -> tuple[tuple[Cve, ...], tuple[Variant, ...]]:
    cves: list[Cve] = []
    variants: list[Variant] = []
    components: dict[tuple[int, str], int] = {}
    for raw in (DATA / "cves.txt").read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if not raw.startswith(" "):
            cid, sev, score, published, exploit, title = (p.strip() for p in raw.split("|", 5))
            cves.append(Cve(cid, sev, float(score), published, exploit == "x", title))
            continue
        platform, rest = raw.strip().split(":", 1)
        packages, fixed = rest.split("->")
        fixed = fixed.strip()
        status = "FixAvailable"
        if fixed.startswith("!"):
            status, fixed = fixed[1:].strip(), ""
        comp = components.setdefault((len(cves) - 1, platform), len(components))
        for pkg in (p.strip() for p in packages.split(",")):
            try:
                version = PACKAGE_VERSIONS[platform][pkg]
            except KeyError:
                raise ValueError(f"sample catalogue: no installed version for {platform} {pkg}") from None
            variants.append(Variant(len(cves) - 1, platform, pkg, version, fixed, status, comp))
    return tuple(cves), tuple(variants)


CVES, VARIANTS = _parse()

# --------------------------------------------------------------------------------------------
# Images. Profiles say which platforms an image is built from.
# --------------------------------------------------------------------------------------------

# profile -> ((os, weight), ...), languages, share of OS CVEs kept (distroless images carry few)
PROFILES: dict[str, tuple[tuple[tuple[str, float], ...], tuple[str, ...]]] = {
    "java": ((("ubuntu-22.04", 0.5), ("debian-12", 0.3), ("mariner-2.0", 0.2)), ("java",)),
    "java-legacy": ((("debian-11", 0.65), ("debian-10", 0.35)), ("java-legacy",)),
    "go": ((("alpine-3.18", 0.5), ("debian-12", 0.35), ("alpine-3.16", 0.15)), ("go",)),
    "python": ((("debian-12", 0.6), ("debian-11", 0.4)), ("python",)),
    "python-ml": ((("ubuntu-22.04", 1.0),), ("python", "python-ml")),
    "node": ((("alpine-3.18", 0.5), ("debian-12", 0.3), ("alpine-3.16", 0.2)), ("npm",)),
    "dotnet": ((("debian-12", 0.5), ("mariner-2.0", 0.3), ("ubuntu-22.04", 0.2)), ("dotnet",)),
    "nginx": ((("debian-12", 0.7), ("alpine-3.18", 0.3)), ()),
    "toolbox": ((("debian-13", 1.0),), ()),
}


@dataclass(frozen=True)
class ThirdPartyImage:
    registry: str
    repository: str
    os: str
    languages: tuple[str, ...]
    version: str          # first version in the window; later ones bump it
    os_share: float       # 1.0 full OS, lower for distroless / minimal images
    namespace: str
    kind: str
    workload: str
    container: str
    share: float          # share of clusters that run it
    units: tuple[str, ...] = ()   # only clusters of these units (empty = any)


THIRD_PARTY: tuple[ThirdPartyImage, ...] = (
    ThirdPartyImage("mcr.microsoft.com", "oss/kubernetes/ingress-nginx/controller", "alpine-3.18", ("go",), "v1.8.1",
                    1.0, "ingress-nginx", "Deployment", "ingress-nginx-controller", "controller", 0.85),
    ThirdPartyImage("mcr.microsoft.com", "oss/jetstack/cert-manager-controller", "debian-12", ("go",), "v1.12.3",
                    0.15, "cert-manager", "Deployment", "cert-manager", "cert-manager-controller", 0.7),
    ThirdPartyImage("mcr.microsoft.com", "azuremonitor/containerinsights/ciprod", "mariner-2.0", ("go",), "3.1.10",
                    1.0, "kube-system", "DaemonSet", "ama-logs", "ama-logs", 0.8),
    ThirdPartyImage("registry.k8s.io", "external-dns/external-dns", "debian-12", ("go",), "v0.13.5", 0.15,
                    "external-dns", "Deployment", "external-dns", "external-dns", 0.4),
    ThirdPartyImage("quay.io", "prometheus/node-exporter", "debian-12", ("go",), "v1.6.1", 0.1, "monitoring",
                    "DaemonSet", "prometheus-node-exporter", "node-exporter", 0.45),
    ThirdPartyImage("quay.io", "prometheus/prometheus", "debian-12", ("go",), "v2.47.0", 0.1, "monitoring",
                    "StatefulSet", "prometheus-server", "prometheus", 0.3),
    ThirdPartyImage("registry.k8s.io", "kube-state-metrics/kube-state-metrics", "debian-12", ("go",), "v2.10.0",
                    0.15, "monitoring", "Deployment", "kube-state-metrics", "kube-state-metrics", 0.4),
    ThirdPartyImage("ghcr.io", "fluxcd/source-controller", "alpine-3.18", ("go",), "v1.1.2", 1.0, "flux-system",
                    "Deployment", "source-controller", "manager", 0.35),
    ThirdPartyImage("ghcr.io", "fluxcd/kustomize-controller", "alpine-3.18", ("go",), "v1.1.1", 1.0, "flux-system",
                    "Deployment", "kustomize-controller", "manager", 0.35),
    ThirdPartyImage("docker.io", "grafana/grafana", "alpine-3.18", ("go", "npm"), "10.1.5", 1.0, "monitoring",
                    "Deployment", "grafana", "grafana", 0.15),
    ThirdPartyImage("docker.io", "bitnami/redis", "debian-11", (), "7.0.12-debian-11-r34", 1.0, "redis",
                    "StatefulSet", "redis-master", "redis", 0.35),
    ThirdPartyImage("docker.io", "bitnami/postgresql", "debian-11", (), "15.4.0-debian-11-r10", 1.0, "postgresql",
                    "StatefulSet", "postgresql", "postgresql", 0.15),
    ThirdPartyImage("docker.io", "library/rabbitmq", "ubuntu-22.04", (), "3.12.4-management", 1.0, "rabbitmq",
                    "StatefulSet", "rabbitmq-server", "rabbitmq", 0.12),
    ThirdPartyImage("docker.io", "bitnami/kafka", "debian-11", ("java",), "3.5.1-debian-11-r25", 1.0, "kafka",
                    "StatefulSet", "kafka-controller", "kafka", 0.1, ("data", "iot", "analytics", "inventory")),
    ThirdPartyImage("docker.io", "library/nginx", "debian-12", (), "1.25.2", 1.0, "web", "Deployment",
                    "nginx-static", "nginx", 0.25),
    ThirdPartyImage("docker.io", "library/mongo", "ubuntu-22.04", ("go",), "6.0.10", 1.0, "mongodb", "StatefulSet",
                    "mongodb", "mongod", 0.08),
    ThirdPartyImage("ghcr.io", "actions/actions-runner", "ubuntu-22.04", ("dotnet", "go-runc"), "2.309.0", 1.0,
                    "arc-runners", "StatefulSet", "arc-runner-set", "runner", 0.6, ("platform",)),
)

# --------------------------------------------------------------------------------------------
# Business units: apps, services (name:profile), owners, registries.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    name: str
    apps: tuple[str, ...]
    services: tuple[tuple[str, str], ...]
    owner: str            # canonical owner tag value (before the mess of real tagging)
    champion: str         # person used for Defender governance assignments
    costcenter: str
    registry: str


def _unit(name: str, apps: str, services: str, owner: str, champion: str, cc: str,
          registry: str = "contosoacr.azurecr.io") -> Unit:
    svc = tuple(tuple(s.split(":")) for s in services.split())
    return Unit(name, tuple(apps.split()), svc, owner, champion, cc, registry)  # type: ignore[arg-type]


UNITS: dict[str, Unit] = {u.name: u for u in (
    _unit("payments", "payments ledger fraud",
          "payments-api:java ledger-service:java fraud-scoring:python settlement-batch:java-legacy "
          "card-tokenizer:go notifications:node reconciliation:python payouts-api:java",
          "payments-team@contoso.com", "anna.kowalski@contoso.com", "CC-4100", "crpaymentsprod.azurecr.io"),
    _unit("platform", "platform core",
          "api-gateway:go config-service:java feature-flags:go webhook-relay:node debug-toolbox:toolbox "
          "status-page:nginx artifact-proxy:go",
          "Platform Engineering", "lars.nielsen@contoso.com", "CC-1000"),
    _unit("identity", "identity iam",
          "token-service:dotnet user-profile:go consent-api:java scim-sync:python mfa-gateway:go",
          "iam-engineering@contoso.com", "rahul.mehta@contoso.com", "CC-1200"),
    _unit("data", "data lakehouse streaming",
          "etl-runner:python ingestion-api:go airflow-worker:python dbt-runner:python kafka-connect:java-legacy "
          "schema-registry:java quality-checks:python",
          "data-platform@contoso.com", "chen.wei@contoso.com", "CC-3300", "contosodata.azurecr.io"),
    _unit("checkout", "checkout cart",
          "storefront-checkout:node cart-api:java pricing-engine:go promotions:python order-api:dotnet tax-service:java",
          "checkout-squad", "maria.garcia@contoso.com", "CC-4200"),
    _unit("web", "web storefront",
          "storefront:node cms:node search-ui:node image-cdn:nginx sitemap-generator:python",
          "web-team@contoso.com", "sofia.rossi@contoso.com", "CC-4300"),
    _unit("ml", "ml recs",
          "model-server:python-ml feature-store:python training-job:python-ml embeddings-api:python-ml recs-api:go",
          "ml-platform@contoso.com", "david.levi@contoso.com", "CC-3400", "contosoml.azurecr.io"),
    _unit("analytics", "analytics bi",
          "reporting-api:java dashboards:node report-engine:java-legacy export-worker:python",
          "analytics-engineering@contoso.com", "emma.johansson@contoso.com", "CC-3500"),
    _unit("logistics", "logistics shipping",
          "shipment-tracker:java route-optimizer:python warehouse-api:dotnet carrier-adapter:java-legacy "
          "label-printer:node",
          "logistics-it@contoso.com", "kwame.mensah@contoso.com", "CC-5100"),
    _unit("crm", "crm",
          "crm-sync:java customer-api:dotnet case-portal:node survey-service:python",
          "crm-apps@contoso.com", "tom.oconnor@contoso.com", "CC-5200"),
    _unit("search", "search",
          "indexer:java query-api:go synonyms-admin:node",
          "search-relevance@contoso.com", "fatima.alsayed@contoso.com", "CC-4400"),
    _unit("iot", "iot telemetry",
          "telemetry-ingest:go device-registry:dotnet firmware-updates:go alerting:python",
          "iot-platform@contoso.com", "j.smith@contoso.com", "CC-5300"),
    _unit("billing", "billing invoicing",
          "invoice-service:java billing-api:java dunning-worker:python pdf-renderer:node",
          "billing-team@contoso.com", "anna.kowalski@contoso.com", "CC-4110"),
    _unit("catalog", "catalog",
          "catalog-api:java image-resizer:go pim-sync:python",
          "catalog-team@contoso.com", "sofia.rossi@contoso.com", "CC-4310"),
    _unit("messaging", "messaging",
          "email-sender:node sms-gateway:go template-service:java",
          "comms-engineering@contoso.com", "lars.nielsen@contoso.com", "CC-1300"),
    _unit("security", "secops",
          "scanner-proxy:go secrets-sync:go siem-forwarder:java",
          "secops@contoso.com", "rahul.mehta@contoso.com", "CC-1100"),
    _unit("finance", "finance erp",
          "gl-export:java-legacy fx-rates:python expense-api:dotnet",
          "finance-systems@contoso.com", "emma.johansson@contoso.com", "CC-2100"),
    _unit("marketing", "marketing",
          "campaign-api:node segment-builder:python email-preferences:node",
          "martech@contoso.com", "maria.garcia@contoso.com", "CC-2200"),
    _unit("loyalty", "loyalty",
          "points-api:java rewards-web:node",
          "loyalty-team@contoso.com", "tom.oconnor@contoso.com", "CC-4500"),
    _unit("inventory", "inventory stock",
          "stock-api:go replenishment:python stock-events:java",
          "inventory-systems@contoso.com", "kwame.mensah@contoso.com", "CC-5400"),
    _unit("supplychain", "supplychain procurement",
          "supplier-portal:dotnet edi-gateway:java-legacy",
          "scm-it@contoso.com", "chen.wei@contoso.com", "CC-5500"),
    _unit("hr", "hr",
          "hr-portal:node payroll-export:java-legacy",
          "hr-systems@contoso.com", "j.smith@contoso.com", "CC-2300"),
    _unit("mobile", "mobile bff",
          "mobile-bff:node push-service:go app-config:go",
          "mobile-platform@contoso.com", "fatima.alsayed@contoso.com", "CC-4600"),
)}

# Extra service names when a unit needs more images than its base list.
SERVICE_SUFFIXES = ("worker", "scheduler", "sync", "exporter", "admin", "events", "reconciler", "adapter",
                    "consumer", "gateway", "cache-warmer", "migrator", "notifier", "auditor")

# Subscriptions in the order they are used (unit, environment); small takes the first 3.
SUBSCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("payments", "prod"), ("platform", "shared"), ("payments", "nonprod"), ("identity", "prod"), ("data", "prod"),
    ("checkout", "prod"), ("web", "prod"), ("data", "nonprod"), ("identity", "nonprod"), ("ml", "prod"),
    ("checkout", "nonprod"), ("logistics", "prod"), ("analytics", "prod"), ("crm", "prod"), ("web", "nonprod"),
    ("search", "prod"), ("iot", "prod"), ("billing", "prod"), ("ml", "nonprod"), ("catalog", "prod"),
    ("messaging", "prod"), ("logistics", "nonprod"), ("platform", "sandbox"), ("security", "prod"),
    ("finance", "prod"), ("marketing", "prod"), ("loyalty", "prod"), ("inventory", "prod"),
    ("supplychain", "prod"), ("hr", "prod"), ("analytics", "nonprod"), ("billing", "nonprod"),
    ("iot", "nonprod"), ("crm", "nonprod"), ("mobile", "prod"), ("mobile", "nonprod"), ("search", "nonprod"),
    ("catalog", "nonprod"), ("finance", "nonprod"), ("data", "sandbox"),
)

ENVIRONMENTS = {  # subscription environment -> cluster environments and weights
    "prod": (("prod", 1.0),),
    "nonprod": (("dev", 0.4), ("test", 0.25), ("stg", 0.25), ("uat", 0.1)),
    "shared": (("shared", 0.5), ("ops", 0.3), ("ci", 0.2)),
    "sandbox": (("sbx", 1.0),),
}
SUBSCRIPTION_WEIGHT = {"prod": 1.4, "nonprod": 1.0, "shared": 0.8, "sandbox": 0.4}

REGIONS: tuple[tuple[str, str, float], ...] = (  # name, short code, weight as a primary region
    ("westeurope", "weu", 0.30), ("northeurope", "neu", 0.14), ("eastus2", "eus2", 0.14), ("uksouth", "uks", 0.10),
    ("eastus", "eus", 0.07), ("westus3", "wus3", 0.05), ("germanywestcentral", "gwc", 0.05),
    ("swedencentral", "sdc", 0.04), ("centralus", "cus", 0.03), ("francecentral", "frc", 0.03),
    ("southeastasia", "sea", 0.03), ("australiaeast", "aue", 0.02),
)
PAIRED_REGION = {
    "westeurope": "northeurope", "northeurope": "westeurope", "eastus2": "centralus", "centralus": "eastus2",
    "uksouth": "westeurope", "eastus": "westus3", "westus3": "eastus", "germanywestcentral": "westeurope",
    "swedencentral": "northeurope", "francecentral": "westeurope", "southeastasia": "australiaeast",
    "australiaeast": "southeastasia",
}

EXEMPT_REASONS = (
    ("Mitigated", "Isolated batch cluster: compensating controls",
     "Cluster has no ingress and no outbound internet; images are rebuilt weekly from patched bases. "
     "Approved by the CISO office, ticket SEC-2291."),
)
